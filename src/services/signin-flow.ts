import { setTimeout as sleep } from 'node:timers/promises';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { AccountService } from './accounts.ts';
import { MFA_REASON, type MfaDecision } from './authentication-policy.ts';
import type { Metrics } from './metrics.ts';
import type { PasskeyResult, PasskeyService } from './passkeys.ts';
import type { PendingSignIns } from './pending-signins.ts';
import type { SecondFactorFacts } from './ports/second-factor-facts.ts';
import type { SecondFactorService } from './second-factors.ts';
import type { SecurityEventService } from './security-events.ts';
import type { SigninProtection } from './signin-protection.ts';
import {
  ABORTED,
  afterPasskey,
  afterPassword,
  codeLogin,
  type Login,
  mayOffer,
  passwordLogin,
  type Step,
  stepOf,
} from './signin-steps.ts';

/** What the sign-in flow knows of an interaction: oidc-provider's, read by the HTTP layer. */
export interface InteractionFacts {
  uid: string;
  /** oidc-provider's prompt (`login`, `consent`, ...) and its reasons (ours too: MFA_REASON) */
  prompt: string;
  reasons: readonly string[];
  /** the signed-in session, if any, and how it signed in */
  session: { accountId: string; amr: readonly string[] | undefined } | undefined;
  clientId: string | undefined;
  /** the client's `require_mfa` and `first_party` metadata */
  clientRequiresMfa: boolean;
  firstParty: boolean;
  /** the authorization request's parameters (`acr_values`, `claims`) */
  params: Readonly<Record<string, unknown>>;
}

/** Who is at the browser, for the limits and the event log. */
export interface Visitor {
  ip: string;
  userAgent: string | undefined;
}

export interface PasswordForm {
  login: string;
  password: string;
  knownDevices: string | undefined;
  passkeyCapable: boolean;
}

export type PasswordOutcome =
  | { kind: 'refused'; reason: 'too_many_attempts' | 'locked'; retryAfter: number }
  /** the one answer to every failure: an unknown user, a wrong password and a disabled account look alike */
  | { kind: 'failed' }
  /** `locale`: the account's stored language, as read for the password check */
  | { kind: 'next'; step: Step; knownDevices: string; locale: string | null };

export type PasskeySignin = PasskeyResult<Login> | { ok: false; reason: 'verification_required' };

export type CodeSignin =
  | { ok: true; login: Login }
  /** no second-factor step waits in this interaction (expired, finished, or another mode) */
  | { ok: false; reason: 'no_step' }
  | { ok: false; reason: 'invalid_code' }
  | { ok: false; reason: 'too_many_attempts'; retryAfter: number };

/**
 * The sign-in flow of an interaction, from the first page to the login it ends with: which step
 * comes next (the rules are in src/services/signin-steps.ts), the passkey step kept between
 * requests, and the security events of each step. The HTTP layer renders the steps.
 */
export function createSigninFlow(deps: {
  accounts: Pick<AccountService, 'authenticate' | 'get'>;
  passkeys: Pick<
    PasskeyService,
    'list' | 'authenticationOptions' | 'authenticate' | 'registrationOptions' | 'register'
  >;
  pending: PendingSignIns;
  /** a user's passkey count and app, read in one statement (shared with the MFA decision's reads) */
  factorFacts: (userId: string) => Promise<Pick<SecondFactorFacts, 'passkeys' | 'totp'>>;
  /** authenticator apps and recovery codes: the code of the second-factor step */
  secondFactors: Pick<SecondFactorService, 'hasTotp' | 'verify'>;
  needsMfa: MfaDecision;
  protection: SigninProtection;
  events: Pick<SecurityEventService, 'record'>;
  metrics: Pick<Metrics, 'signins'>;
}) {
  const { accounts, passkeys, pending, needsMfa, protection, events } = deps;
  // passkey challenges are bound to the interaction, itself bound to the browser by oidc-provider's cookie
  const binding = (i: InteractionFacts) => `interaction:${i.uid}`;
  const mfaRequired = (i: InteractionFacts, userId: string) =>
    needsMfa({ clientId: i.clientId, clientRequiresMfa: i.clientRequiresMfa, params: i.params }, userId);
  const countPasskeys = async (userId: string) => (await deps.factorFacts(userId)).passkeys;
  const hasTotp = async (userId: string) => (await deps.factorFacts(userId)).totp;
  const consentEvent = (i: InteractionFacts, v: Visitor, granted: boolean, details?: Record<string, unknown>) =>
    events.record({
      type: granted ? 'consent.granted' : 'consent.denied',
      ...v,
      clientId: i.clientId,
      actor: i.session?.accountId,
      subject: i.session?.accountId,
      details,
    });
  /** the offer to add a passkey, while it stands: for whom */
  const offered = async (i: InteractionFacts) => {
    const waiting = await pending.get(i.uid);
    if (!waiting || !mayOffer(waiting, await countPasskeys(waiting.accountId), Math.floor(Date.now() / 1000))) return;
    return accounts.get(waiting.accountId);
  };

  return {
    /** The step to show when the interaction's page is opened. */
    async show(i: InteractionFacts, v: Visitor): Promise<Step> {
      const waiting = i.prompt === 'login' ? await pending.get(i.uid) : undefined;
      const accountId = i.session?.accountId;
      // a signed-in session lacking the second factor this request demands: step up
      const stepUp = accountId !== undefined && i.reasons.includes(MFA_REASON);
      const [count, totp] =
        stepUp && !waiting ? await Promise.all([countPasskeys(accountId), hasTotp(accountId)]) : [0, false];
      const step = stepOf({
        prompt: i.prompt,
        pending: waiting?.mode,
        stepUp,
        passkeys: count,
        totp,
        firstParty: i.firstParty,
      });
      let saved = waiting;
      if (step.name === 'passkey' && !waiting && accountId !== undefined) {
        saved = { accountId, password: i.session?.amr?.includes('pwd') ?? true, mode: step.mode };
        await pending.save(i.uid, saved);
      }
      if (step.name === 'passkey' && step.mode === 'second-factor' && saved) {
        // what the page offers: a code only after a password (see codeLogin), a passkey if there is one
        const [passkeyCount, app] = await Promise.all([countPasskeys(saved.accountId), hasTotp(saved.accountId)]);
        return { ...step, methods: { code: app && saved.password, passkey: passkeyCount > 0 } };
      }
      if (step.name === 'grant') consentEvent(i, v, true, { first_party: true });
      if (step.name === 'consent' && accountId !== undefined) {
        const user = await accounts.get(accountId);
        return { ...step, accountName: user ? (user.name ?? user.username) : undefined };
      }
      return step;
    },

    /** A password on the login page: the limits, the check, then the next step. */
    async password(i: InteractionFacts, v: Visitor, form: PasswordForm): Promise<PasswordOutcome> {
      // what the limits and the event log see of the attempt: never the password
      const attempt = {
        address: v.ip,
        userAgent: v.userAgent,
        clientId: i.clientId,
        login: form.login,
        knownDevices: form.knownDevices,
      };
      const gate = await protection.check(attempt);
      if (!gate.allowed) return { kind: 'refused', reason: gate.reason, retryAfter: gate.retryAfter };
      // progressive delay: every further guess costs the attacker more time
      if (gate.delayMs > 0) await sleep(gate.delayMs);
      const empty = form.login === '' || form.password === '';
      const result = empty
        ? ({ ok: false, reason: 'invalid_credentials' } as const)
        : await accounts.authenticate(form.login, form.password, {
            ip: v.ip,
            ...(i.clientId ? { clientId: i.clientId } : {}),
          });
      if (!result.ok) {
        await protection.failed(attempt, empty ? 'empty' : result.reason);
        return { kind: 'failed' };
      }
      const accountId = result.user.id;
      const knownDevices = await protection.succeeded(attempt, accountId);
      const [need, passkeyCount, totp] = await Promise.all([
        mfaRequired(i, accountId),
        countPasskeys(accountId),
        hasTotp(accountId),
      ]);
      const step = afterPassword({
        accountId,
        mfaRequired: need,
        passkeys: passkeyCount,
        totp,
        passkeyCapable: form.passkeyCapable,
      });
      if (step.name === 'refuse') {
        events.record({
          type: 'signin.failed',
          outcome: 'failure',
          subject: accountId,
          actor: accountId,
          ip: v.ip,
          clientId: i.clientId,
          details: { reason: 'mfa_unavailable' },
        });
        deps.metrics.signins.inc({ outcome: 'failure', method: 'password' });
      }
      if (step.name === 'passkey') await pending.save(i.uid, { accountId, password: true, mode: step.mode });
      return { kind: 'next', step, knownDevices, locale: result.user.locale };
    },

    /** Options for a passkey sign-in: any discoverable passkey, or in the second-factor step, the account's own. */
    async passkeyOptions(i: InteractionFacts) {
      const waiting = await pending.get(i.uid);
      return passkeys.authenticationOptions(
        binding(i),
        waiting?.mode === 'second-factor' ? waiting.accountId : undefined,
      );
    },

    /** A passkey assertion: the sign-in itself, or the second factor after a password. */
    async passkey(i: InteractionFacts, v: Visitor, response: AuthenticationResponseJSON): Promise<PasskeySignin> {
      const waiting = await pending.get(i.uid);
      const proof = await passkeys.authenticate(binding(i), response, { ip: v.ip, clientId: i.clientId });
      if (!proof.ok) return proof;
      const next = afterPasskey({
        proof: proof.value,
        pending: waiting,
        mfaRequired: await mfaRequired(i, proof.value.userId),
      });
      if (!next.ok) return next;
      const { accountId: userId, amr } = next.login;
      events.record({
        type: 'signin.succeeded',
        subject: userId,
        actor: userId,
        ip: v.ip,
        clientId: i.clientId,
        details: { method: 'passkey', secondFactor: next.secondFactor, amr },
      });
      deps.metrics.signins.inc({ outcome: 'success', method: 'passkey' });
      return { ok: true, value: next.login };
    },

    /**
     * A code at the second-factor step: the authenticator app's, or a recovery code. Limited per
     * account (`CODE_LIMITS` in src/services/second-factors.ts), since whoever is here knows the password.
     */
    async code(i: InteractionFacts, v: Visitor, typed: string): Promise<CodeSignin> {
      const waiting = await pending.get(i.uid);
      if (waiting?.mode !== 'second-factor' || !waiting.password) return { ok: false, reason: 'no_step' };
      const userId = waiting.accountId;
      const result = await deps.secondFactors.verify(userId, typed, {
        ip: v.ip,
        clientId: i.clientId,
        purpose: 'signin',
      });
      if (!result.ok) return result;
      const login = codeLogin(userId);
      events.record({
        type: 'signin.succeeded',
        subject: userId,
        actor: userId,
        ip: v.ip,
        clientId: i.clientId,
        details: { method: result.method, secondFactor: true, amr: login.amr },
      });
      return { ok: true, login };
    },

    /** Registration options for the offer after a password; undefined when there is no offer. */
    async offerOptions(i: InteractionFacts) {
      const user = await offered(i);
      return user && passkeys.registrationOptions(user, binding(i));
    },

    /** Accepts the offer: the new passkey, then the sign-in the password began. */
    async acceptOffer(
      i: InteractionFacts,
      v: Visitor,
      response: RegistrationResponseJSON,
      name: string | undefined,
    ): Promise<PasskeyResult<Login> | undefined> {
      const user = await offered(i);
      if (!user) return undefined;
      const added = await passkeys.register(user, binding(i), response, name, { ip: v.ip, clientId: i.clientId });
      return added.ok ? { ok: true, value: passwordLogin(user.id) } : added;
    },

    /** "Not now": the sign-in the password began; undefined when there is no offer. */
    async skipOffer(i: InteractionFacts): Promise<Login | undefined> {
      const user = await offered(i);
      return user && passwordLogin(user.id);
    },

    /** The consent page's answer. */
    consent(i: InteractionFacts, v: Visitor, allow: boolean): Step {
      consentEvent(i, v, allow);
      return allow ? { name: 'grant' } : ABORTED;
    },
  };
}

export type SigninFlow = ReturnType<typeof createSigninFlow>;
