import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Logger } from '../logger.ts';
import type { PublicUser } from './accounts.ts';
import type { Metrics } from './metrics.ts';
import type { CeremonyContext, PasskeyResult, PasskeyService } from './passkeys.ts';
import type { OidcPayloadRepository } from './ports/oidc-payloads.ts';
import type { PasskeyRecord } from './ports/passkeys.ts';
import type { SecurityEventService } from './security-events.ts';

/**
 * How long a passkey proof of a session allows changes to the account's ways of signing in
 * ("sudo mode", as GitHub and Google ask for it; NIST SP 800-63B §6.1.2.1 asks for a second
 * factor before a new authenticator is bound to an account that has one).
 */
export const STEP_UP_SECONDS = 300;

/**
 * The changes that need the proof: each adds, removes or weakens a way to sign in, or (a
 * rename) changes what the owner sees of one: a password alone must not relabel the owner's
 * passkey ("old phone, remove me") to have the owner remove it, or hide which one is whose.
 */
export type AccountChange =
  | 'add-passkey'
  | 'remove-passkey'
  | 'rename-passkey'
  | 'set-mfa'
  | 'add-totp'
  | 'remove-totp'
  | 'regenerate-recovery-codes'
  // a new password replaces a way to sign in: with a second factor, the current password alone
  // (a thief of it holding a session) must not be enough to take the account over
  | 'change-password'
  /**
   * the address reset links go to: with it, a password alone (a stolen one) would take the
   * account's recovery for good, so an account with a second factor asks for it here too
   */
  | 'change-email';

/**
 * `amr` values (RFC 8176 §2) that say a second factor was used: a passkey (`hwk`, `swk`), a
 * one-time code after the password (`otp`: an authenticator app or a recovery code, which is
 * how someone who lost their phone gets to replace it), and `mfa`, only ever issued with one.
 */
const SECOND_FACTOR_AMR = new Set(['hwk', 'swk', 'otp', 'mfa']);

/** What the session says about how it signed in (oidc-provider's session: `amr`, `loginTs`). */
export interface SessionFacts {
  amr: readonly string[];
  /** epoch seconds of the last sign-in in this session */
  authTime: number;
}

export interface ChangeFacts {
  /** the account's second factors (passkeys, a confirmed authenticator app) */
  secondFactors: number;
  session: SessionFacts;
  /** epoch seconds of this session's last passkey step-up on the account page, if any */
  stepUpAt: number | undefined;
  /** epoch seconds */
  now: number;
}

export type ChangeDecision =
  | { allowed: true }
  /** `step_up_required`: prove a passkey first; `no_second_factor`: nothing to require */
  | { allowed: false; reason: 'step_up_required' | 'no_second_factor' };

/**
 * The rule, on plain values. An account without a second factor may enrol its first one with
 * the password alone: that is the bootstrap, and nothing better is on offer. An account with one
 * changes its factors (adds, removes, turns the requirement on or off) only from a session that
 * proved a passkey within `STEP_UP_SECONDS`, at sign-in or in a step-up: otherwise a password
 * alone would enrol the attacker's own passkey and pass every second-factor check after.
 */
export function decideAccountChange(change: AccountChange, facts: ChangeFacts): ChangeDecision {
  if (facts.secondFactors === 0) {
    return change === 'set-mfa' ? { allowed: false, reason: 'no_second_factor' } : { allowed: true };
  }
  const fresh = (at: number | undefined) => at !== undefined && facts.now - at <= STEP_UP_SECONDS;
  const signedInWithSecondFactor =
    facts.session.amr.some((m) => SECOND_FACTOR_AMR.has(m)) && fresh(facts.session.authTime);
  return signedInWithSecondFactor || fresh(facts.stepUpAt)
    ? { allowed: true }
    : { allowed: false, reason: 'step_up_required' };
}

/** A session of the account page: which one, for whom, and how it signed in. */
export interface AccountSession extends SessionFacts {
  /** oidc-provider's session uid: stable for the session's life */
  uid: string;
}

/** Tells a person that a way to sign in was added to their account. */
export interface AccountNotifier {
  /**
   * The one place a new passkey is announced to its owner. Today the account page shows it (a
   * notice that stays for `NOTICE_DAYS`); a mailer hooks in here.
   */
  passkeyAdded(user: PublicUser, passkey: Pick<PasskeyRecord, 'id' | 'name'>, at: Date): Promise<void>;
  /** the notices to show on the account page, newest first */
  recent(userId: string): Promise<AccountNotice[]>;
}

export interface AccountNotice {
  kind: 'passkey.added';
  /** the passkey's name, as stored (printable, at most 64 characters) */
  name: string;
  at: string;
}

const NOTICE_MODEL = 'AccountNotice';
const NOTICE_DAYS = 30;
const NOTICE_MAX = 10;

/** Notices kept next to the provider's models, by user id (not `accountId`, so ending sessions keeps them). */
export function createAccountNotifier(deps: {
  payloads: Pick<OidcPayloadRepository, 'find' | 'upsert'>;
  log: Logger;
}): AccountNotifier {
  const { payloads, log } = deps;
  const stored = async (userId: string) =>
    (((await payloads.find(NOTICE_MODEL, userId)) as { notices?: AccountNotice[] } | undefined)?.notices ?? []).filter(
      (n) => Date.now() - Date.parse(n.at) < NOTICE_DAYS * 86_400_000,
    );
  return {
    async passkeyAdded(user, passkey, at) {
      const notices = [{ kind: 'passkey.added' as const, name: passkey.name, at: at.toISOString() }];
      notices.push(...(await stored(user.id)));
      await payloads.upsert(NOTICE_MODEL, user.id, { notices: notices.slice(0, NOTICE_MAX) }, NOTICE_DAYS * 86_400);
      log.info({ userId: user.id, passkeyId: passkey.id }, 'new passkey announced to its owner');
    },
    recent: stored,
  };
}

const STEP_UP_MODEL = 'AccountStepUp';

export interface AccountChangeService {
  /** Whether this session may make this change to this user's account now. */
  authorize(change: AccountChange, userId: string, session: AccountSession): Promise<ChangeDecision>;
  /** Options for a step-up: an assertion with one of the user's own passkeys, bound to this session. */
  stepUpOptions(userId: string, session: AccountSession): Promise<PublicKeyCredentialRequestOptionsJSON>;
  /** A step-up proved otherwise (a code from the authenticator app): this session may change the account for `STEP_UP_SECONDS`. */
  steppedUp(userId: string, session: AccountSession): Promise<void>;
  /** Verifies the step-up assertion; on success this session may change the account for `STEP_UP_SECONDS`. */
  stepUp(
    userId: string,
    session: AccountSession,
    response: AuthenticationResponseJSON,
    ctx?: CeremonyContext,
  ): Promise<PasskeyResult<void>>;
  /** Registration options, when `authorize('add-passkey')` allows. */
  registrationOptions(
    user: PublicUser,
    session: AccountSession,
  ): Promise<ChangeResult<Awaited<ReturnType<PasskeyService['registrationOptions']>>>>;
  /** Registers a passkey, when `authorize('add-passkey')` allows (checked again: the options may be old). */
  addPasskey(
    user: PublicUser,
    session: AccountSession,
    response: RegistrationResponseJSON,
    name: string | undefined,
    ctx?: CeremonyContext,
  ): Promise<ChangeResult<PasskeyRecord>>;
  /** Turns the account's passkey requirement on or off, when `authorize('set-mfa')` allows. */
  setMfaRequired(
    userId: string,
    session: AccountSession,
    required: boolean,
    ctx?: CeremonyContext,
  ): Promise<ChangeDecision>;
}

/** A passkey ceremony's result, or the change refused before it began. */
export type ChangeResult<T> =
  | PasskeyResult<T>
  | { ok: false; reason: Extract<ChangeDecision, { allowed: false }>['reason'] };

export function createAccountChangeService(deps: {
  passkeys: Pick<
    PasskeyService,
    'list' | 'authenticationOptions' | 'authenticate' | 'registrationOptions' | 'register' | 'setMfaRequired'
  >;
  /** whether the user has a confirmed authenticator app: a second factor like a passkey */
  totp: { hasTotp(userId: string): Promise<boolean> };
  payloads: Pick<OidcPayloadRepository, 'find' | 'upsert'>;
  events: Pick<SecurityEventService, 'record'>;
  metrics: Pick<Metrics, 'signins'>;
  now?: () => number;
}): AccountChangeService {
  const { passkeys, payloads, events } = deps;
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const binding = (session: AccountSession) => `step-up:${session.uid}`;
  const stepUpAt = async (userId: string, session: AccountSession) => {
    const found = (await payloads.find(STEP_UP_MODEL, session.uid)) as { accountId?: string; at?: number } | undefined;
    return found?.accountId === userId && typeof found.at === 'number' ? found.at : undefined;
  };

  const markSteppedUp = (userId: string, session: AccountSession) =>
    // `accountId`: ending the user's sessions (a password change) removes it with them
    payloads.upsert(STEP_UP_MODEL, session.uid, { accountId: userId, at: now() }, STEP_UP_SECONDS);
  const authorize: AccountChangeService['authorize'] = async (change, userId, session) =>
    decideAccountChange(change, {
      secondFactors: (await passkeys.list(userId)).length + ((await deps.totp.hasTotp(userId)) ? 1 : 0),
      session,
      stepUpAt: await stepUpAt(userId, session),
      now: now(),
    });

  return {
    authorize,

    steppedUp: markSteppedUp,

    stepUpOptions: (userId, session) => passkeys.authenticationOptions(binding(session), userId),

    async stepUp(userId, session, response, ctx = {}) {
      // the challenge was issued for this user and this session: another user's passkey is refused
      const proof = await passkeys.authenticate(binding(session), response, ctx);
      if (!proof.ok) return proof;
      if (proof.value.userId !== userId) return { ok: false, reason: 'wrong_user' };
      await markSteppedUp(userId, session);
      events.record({
        type: 'signin.succeeded',
        subject: userId,
        actor: userId,
        clientId: ctx.clientId,
        ip: ctx.ip,
        details: { method: 'passkey', stepUp: true, authenticator_id: proof.value.passkeyId },
      });
      deps.metrics.signins.inc({ outcome: 'success', method: 'passkey' });
      return { ok: true, value: undefined };
    },

    async registrationOptions(user, session) {
      const decision = await authorize('add-passkey', user.id, session);
      if (!decision.allowed) return { ok: false, reason: decision.reason };
      return { ok: true, value: await passkeys.registrationOptions(user, `session:${session.uid}`) };
    },

    async addPasskey(user, session, response, name, ctx) {
      const decision = await authorize('add-passkey', user.id, session);
      if (!decision.allowed) return { ok: false, reason: decision.reason };
      return passkeys.register(user, `session:${session.uid}`, response, name, ctx);
    },

    async setMfaRequired(userId, session, required, ctx = {}) {
      // a second factor nobody can give would lock the account: only with a passkey, and only
      // from a session that proved one
      const decision = await authorize('set-mfa', userId, session);
      if (!decision.allowed) return decision;
      await passkeys.setMfaRequired(userId, required);
      events.record({
        type: 'user.updated',
        subject: userId,
        actor: userId,
        clientId: ctx.clientId,
        ip: ctx.ip,
        details: { fields: ['mfaRequired'], mfaRequired: required },
      });
      return decision;
    },
  };
}
