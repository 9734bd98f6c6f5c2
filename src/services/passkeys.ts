import { randomUUID } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { Logger } from '../logger.ts';
import type { AccountNotifier } from './account-changes.ts';
import type { PublicUser } from './accounts.ts';
import type { Metrics } from './metrics.ts';
import type { PasskeyRecord, PasskeyRepository } from './ports/passkeys.ts';
import type { SecurityEventService } from './security-events.ts';
import type { Ceremony, ChallengeCheck, ChallengeStore } from './webauthn-challenges.ts';

// Loaded at the first ceremony: most processes (and every service-token request) never need it.
let webauthn: Promise<typeof import('@simplewebauthn/server')> | undefined;
const loadWebAuthn = () => {
  webauthn ??= import('@simplewebauthn/server');
  return webauthn;
};

/** What a passkey sign-in proved, for `amr` (RFC 8176) and `acr`. */
export interface PasskeyProof {
  userId: string;
  passkeyId: string;
  /** WebAuthn §6.1 flag UV: the authenticator checked a PIN or biometric */
  userVerified: boolean;
  /** RFC 8176: `swk` for a synced (backup-eligible) passkey, `hwk` for one bound to its device */
  keyKind: 'hwk' | 'swk';
}

export type PasskeyFailure =
  | Exclude<ChallengeCheck, { ok: true }>['reason']
  | 'invalid_response'
  | 'unknown_credential'
  | 'wrong_user'
  | 'user_disabled'
  | 'counter_regression'
  | 'already_registered'
  | 'verification_failed';

export type PasskeyResult<T> = { ok: true; value: T } | { ok: false; reason: PasskeyFailure };

/** Who is asking, for the event log. */
export interface CeremonyContext {
  ip?: string | undefined;
  clientId?: string | undefined;
}

export interface PasskeyService {
  registrationOptions(user: PublicUser, binding: string): Promise<PublicKeyCredentialCreationOptionsJSON>;
  register(
    user: PublicUser,
    binding: string,
    response: RegistrationResponseJSON,
    name: string | undefined,
    ctx?: CeremonyContext,
  ): Promise<PasskeyResult<PasskeyRecord>>;
  /** With `userId` (a second factor) only that user's passkeys are allowed; without, any discoverable one. */
  authenticationOptions(binding: string, userId?: string): Promise<PublicKeyCredentialRequestOptionsJSON>;
  authenticate(
    binding: string,
    response: AuthenticationResponseJSON,
    ctx?: CeremonyContext,
  ): Promise<PasskeyResult<PasskeyProof>>;
  list(userId: string): Promise<PasskeyRecord[]>;
  rename(userId: string, id: string, name: string): Promise<boolean>;
  remove(userId: string, id: string, ctx?: CeremonyContext & { by?: 'user' | 'admin' }): Promise<boolean>;
  mfaRequired(userId: string): Promise<boolean>;
  setMfaRequired(userId: string, required: boolean): Promise<void>;
}

export interface PasskeyServiceOptions {
  /** the issuer URL: RP ID = its host, expected origin = its origin (WebAuthn §5.1.3, §7.1 step 9) */
  issuer: string;
  rpName: string;
  repo: PasskeyRepository;
  challenges: ChallengeStore;
  users: { get(id: string): Promise<PublicUser | undefined> };
  log: Logger;
  /** where the ceremonies' security events go (`passkey.added`, `signin.failed`, ...) */
  events: Pick<SecurityEventService, 'record'>;
  metrics: Pick<Metrics, 'signins'>;
  /** tells the owner of a new passkey (src/services/account-changes.ts) */
  notifier?: Pick<AccountNotifier, 'passkeyAdded'> | undefined;
}

/** Names are shown on pages and in lists: printable, trimmed, short. */
const normalizePasskeyName = (name: string): string | undefined => {
  const trimmed = name
    .replace(/[\p{C}]/gu, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 64);
  return trimmed === '' ? undefined : trimmed;
};

/** The challenge the browser signed, read from clientDataJSON (WebAuthn §5.8.1), before anything is trusted. */
function challengeOf(clientDataJSON: unknown): string | undefined {
  if (typeof clientDataJSON !== 'string' || clientDataJSON.length > 4096) return undefined;
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof data.challenge === 'string' ? data.challenge : undefined;
  } catch {
    return undefined;
  }
}

export function createPasskeyService(options: PasskeyServiceOptions): PasskeyService {
  const { repo, challenges, users, log, events } = options;
  const issuer = new URL(options.issuer);
  const rpID = issuer.hostname;
  const expectedOrigin = issuer.origin;

  /** A passkey sign-in that failed; `userId` when the passkey is known. */
  const signinFailed = (reason: string, userId: string | undefined, ctx: CeremonyContext) => {
    events.record({
      type: 'signin.failed',
      outcome: 'failure',
      subject: userId,
      actor: userId,
      clientId: ctx.clientId,
      ip: ctx.ip,
      details: { method: 'passkey', reason },
    });
    options.metrics.signins.inc({ outcome: 'failure', method: 'passkey' });
  };

  const take = async (clientDataJSON: unknown, ceremony: Ceremony, binding: string): Promise<ChallengeCheck> => {
    const challenge = challengeOf(clientDataJSON);
    if (challenge === undefined) return { ok: false, reason: 'unknown_challenge' };
    return challenges.consume(challenge, ceremony, binding);
  };

  return {
    async registrationOptions(user, binding) {
      const existing = await repo.listByUser(user.id);
      const challenge = await challenges.issue('registration', { binding, userId: user.id });
      return (await loadWebAuthn()).generateRegistrationOptions({
        rpName: options.rpName,
        rpID,
        userName: user.username,
        userDisplayName: user.name ?? user.username,
        // the user handle: our opaque id, no personal data (WebAuthn §14.6.1)
        userID: new TextEncoder().encode(user.id),
        // bytes: the library base64url-encodes them, so clientDataJSON carries exactly our stored id
        challenge: new Uint8Array(Buffer.from(challenge, 'base64url')),
        attestationType: 'none',
        excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: [...p.transports] })),
        // discoverable credentials: sign-in without a username (WebAuthn §6.2.2)
        authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
        timeout: 120_000,
      });
    },

    async register(user, binding, response, name, ctx = {}) {
      const check = await take(response.response?.clientDataJSON, 'registration', binding);
      if (!check.ok) return check;
      if (check.userId !== user.id) return { ok: false, reason: 'wrong_user' };
      let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        verified = await (await loadWebAuthn()).verifyRegistrationResponse({
          response,
          expectedChallenge: (c) => c === challengeOf(response.response.clientDataJSON),
          expectedOrigin,
          expectedRPID: rpID,
          requireUserVerification: false,
        });
      } catch (err) {
        log.info({ err: (err as Error).message, userId: user.id }, 'passkey registration refused');
        return { ok: false, reason: 'verification_failed' };
      }
      if (!verified.verified) return { ok: false, reason: 'verification_failed' };
      const info = verified.registrationInfo;
      const record = {
        id: randomUUID(),
        userId: user.id,
        credentialId: info.credential.id,
        publicKey: info.credential.publicKey,
        counter: info.credential.counter,
        transports: info.credential.transports ?? [],
        backupEligible: info.credentialDeviceType === 'multiDevice',
        backedUp: info.credentialBackedUp,
        aaguid: info.aaguid,
        name: normalizePasskeyName(name ?? '') ?? `Passkey ${new Date().toISOString().slice(0, 10)}`,
      };
      if (!(await repo.create(record))) return { ok: false, reason: 'already_registered' };
      events.record({
        type: 'passkey.added',
        subject: user.id,
        actor: user.id,
        clientId: ctx.clientId,
        ip: ctx.ip,
        // the event log drops detail keys that look like secrets (`key`): a passkey's id is not one
        details: { authenticator_id: record.id, aaguid: record.aaguid },
      });
      const stored = await repo.findByCredentialId(record.credentialId);
      if (!stored) return { ok: false, reason: 'verification_failed' };
      // the passkey is there: a failed announcement is logged, not turned into a failed registration
      await options.notifier
        ?.passkeyAdded(user, stored, stored.createdAt)
        .catch((err: unknown) => log.warn({ err, userId: user.id }, 'announcing a new passkey failed'));
      return { ok: true, value: stored };
    },

    async authenticationOptions(binding, userId) {
      const allowed = userId === undefined ? [] : await repo.listByUser(userId);
      const challenge = await challenges.issue('authentication', { binding, userId });
      return (await loadWebAuthn()).generateAuthenticationOptions({
        rpID,
        // bytes: the library base64url-encodes them, so clientDataJSON carries exactly our stored id
        challenge: new Uint8Array(Buffer.from(challenge, 'base64url')),
        userVerification: 'preferred',
        allowCredentials: allowed.map((p) => ({ id: p.credentialId, transports: [...p.transports] })),
        timeout: 120_000,
      });
    },

    async authenticate(binding, response, ctx = {}) {
      const check = await take(response.response?.clientDataJSON, 'authentication', binding);
      if (!check.ok) return check;
      const passkey = typeof response.id === 'string' ? await repo.findByCredentialId(response.id) : undefined;
      if (!passkey) {
        signinFailed('unknown_credential', undefined, ctx);
        return { ok: false, reason: 'unknown_credential' };
      }
      // a second factor must come from the account that gave the first one
      if (check.userId !== undefined && check.userId !== passkey.userId) return { ok: false, reason: 'wrong_user' };
      // WebAuthn §7.2 step 6: a user handle, when sent, names the credential's owner
      const handle = response.response.userHandle;
      if (handle && Buffer.from(handle, 'base64url').toString('utf8') !== passkey.userId) {
        return { ok: false, reason: 'wrong_user' };
      }
      let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
      try {
        verified = await (await loadWebAuthn()).verifyAuthenticationResponse({
          response,
          expectedChallenge: (c) => c === challengeOf(response.response.clientDataJSON),
          expectedOrigin,
          expectedRPID: rpID,
          // counter 0 turns the library's own counter check off: ours below runs only after the
          // signature is verified, so a forged response cannot raise a false alarm
          credential: {
            id: passkey.credentialId,
            publicKey: new Uint8Array(passkey.publicKey),
            counter: 0,
            transports: [...passkey.transports],
          },
          requireUserVerification: false,
        });
      } catch (err) {
        log.info({ err: (err as Error).message, userId: passkey.userId }, 'passkey assertion refused');
        signinFailed('verification_failed', passkey.userId, ctx);
        return { ok: false, reason: 'verification_failed' };
      }
      if (!verified.verified) return { ok: false, reason: 'verification_failed' };
      const { newCounter, userVerified, credentialBackedUp } = verified.authenticationInfo;

      // WebAuthn §7.2 step 22: a signature counter that does not increase (when either is
      // non-zero) means the authenticator may have been cloned: refuse and record it
      if ((newCounter > 0 || passkey.counter > 0) && newCounter <= passkey.counter) {
        log.warn({ userId: passkey.userId }, 'passkey signature counter went backwards; sign-in refused');
        events.record({
          type: 'passkey.counter_regression',
          outcome: 'failure',
          subject: passkey.userId,
          actor: passkey.userId,
          clientId: ctx.clientId,
          ip: ctx.ip,
          details: { authenticator_id: passkey.id, stored: passkey.counter, presented: newCounter },
        });
        return { ok: false, reason: 'counter_regression' };
      }
      const user = await users.get(passkey.userId);
      if (user?.status !== 'active') {
        signinFailed('disabled', passkey.userId, ctx);
        return { ok: false, reason: 'user_disabled' };
      }
      const at = new Date();
      if (
        !(await repo.recordUse(passkey.id, passkey.counter, { counter: newCounter, backedUp: credentialBackedUp, at }))
      ) {
        // another sign-in with this credential moved the counter meanwhile: the same response twice
        return { ok: false, reason: 'counter_regression' };
      }
      return {
        ok: true,
        value: {
          userId: passkey.userId,
          passkeyId: passkey.id,
          userVerified,
          keyKind: passkey.backupEligible ? 'swk' : 'hwk',
        },
      };
    },

    list: (userId) => repo.listByUser(userId),

    async rename(userId, id, name) {
      const clean = normalizePasskeyName(name);
      return clean !== undefined && repo.rename(userId, id, clean);
    },

    async remove(userId, id, ctx = {}) {
      const { removed, remaining } = await repo.remove(userId, id);
      if (!removed) return false;
      // removed by an administrator: the admin API's route records it, naming the admin
      if (ctx.by !== 'admin') {
        events.record({
          type: 'passkey.removed',
          subject: userId,
          actor: userId,
          clientId: ctx.clientId,
          ip: ctx.ip,
          details: { authenticator_id: id, remaining },
        });
      }
      return true;
    },

    mfaRequired: (userId) => repo.mfaRequired(userId),
    setMfaRequired: (userId, required) => repo.setMfaRequired(userId, required),
  };
}
