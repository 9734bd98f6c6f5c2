import { createHmac, type KeyObject, randomBytes } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { Mailer } from './mail.ts';
import type { Metrics } from './metrics.ts';
import type { SecondFactorRepository } from './ports/second-factors.ts';
import type { RateLimitStore } from './rate-limits.ts';
import { seal, unseal } from './secrets.ts';
import type { SecondFactorEvent, SecurityEventService } from './security-events.ts';
import { base32Encode, generateTotpSecret, isTotpCode, matchTotp, otpauthUri } from './totp.ts';

/** Recovery codes issued at a time. */
export const RECOVERY_CODE_COUNT = 10;
/**
 * Failed codes per account before the second-factor step refuses for the rest of the window:
 * five per quarter hour and fifteen per day. Whoever is at this step knows the password; with
 * three codes valid at any moment (the ±1 window) a guess succeeds with probability 3·10⁻⁶, so
 * the day's fifteen give 4.5·10⁻⁵, about 1.6 % over a year of non-stop guessing, every lock in
 * the event log.
 */
const CODE_LIMITS = { short: { points: 5, windowSeconds: 900 }, day: { points: 15, windowSeconds: 86_400 } };

/** Crockford's base32 alphabet: no i, l, o, u; 256 is a multiple of 32, so `byte & 31` is unbiased */
const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const RECOVERY_LENGTH = 10;

/** A recovery code as shown: ten characters (50 bits) in two groups, `xxxxx-xxxxx`. */
export function generateRecoveryCode(): string {
  const chars = [...randomBytes(RECOVERY_LENGTH)].map((b) => RECOVERY_ALPHABET[b & 31]).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}

/**
 * A typed code as it is compared: spaces and dashes dropped, lower case, and the letters people
 * confuse with digits read as Crockford's base32 reads them (o→0, i and l→1). Too long: ''.
 */
export function normalizeCode(typed: string): string {
  if (typed.length > 64) return '';
  return typed.replace(/[\s-]/g, '').toLowerCase().replace(/o/g, '0').replace(/[il]/g, '1');
}

const isRecoveryCode = (code: string) =>
  code.length === RECOVERY_LENGTH && [...code].every((c) => RECOVERY_ALPHABET.includes(c));

/**
 * The stored form of a recovery code: HMAC-SHA256 under a key derived from SECRETS_KEY, over the
 * user id and the code. A code has 50 random bits and is tried online against the limits above,
 * so a slow password hash buys nothing; the key keeps a stolen table useless offline, and the
 * user id keeps one user's hashes from matching another's.
 */
export const hashRecoveryCode = (userId: string, code: string, key: KeyObject): string =>
  createHmac('sha256', key).update(`${userId}:${code}`).digest('base64url');

/** An enrolment in progress: what the page shows (the secret, and the URI the QR code carries). */
export interface TotpEnrolment {
  /** base32, as people type it into an app */
  secret: string;
  /** `otpauth://totp/...` */
  uri: string;
}

/** Where a code was given: the sign-in step or a step-up on the account page. */
export type CodePurpose = 'signin' | 'step_up';

export interface CodeContext {
  ip?: string | undefined;
  clientId?: string | undefined;
  purpose: CodePurpose;
}

export type CodeResult =
  | { ok: true; method: 'totp' | 'recovery_code' }
  | { ok: false; reason: 'invalid_code' }
  | { ok: false; reason: 'too_many_attempts'; retryAfter: number };

/** Tells a person that a recovery code of theirs was used. */
export interface SecondFactorNotifier {
  recoveryCodeUsed(userId: string, remaining: number, at: Date): Promise<void>;
}

/**
 * Mails the owner of a used recovery code (someone holding their password and a code is either
 * them or someone they must hear about at once). Without a mail transport, or for an account
 * with no address, the log says so instead; a mail that cannot be queued never fails the sign-in.
 */
export const mailNotifier = (deps: {
  users: { get(id: string): Promise<{ username: string; email: string | null; locale: string | null } | undefined> };
  /** the mailer, once built (it is built after this service) */
  mailer: () => Mailer | undefined;
  issuer: string;
  log: Logger;
}): SecondFactorNotifier => ({
  async recoveryCodeUsed(userId, remaining, at) {
    try {
      const mailer = deps.mailer();
      const user = await deps.users.get(userId);
      if (!mailer?.available || !user?.email) {
        deps.log.info({ userId, remaining }, 'recovery code used; no mail to tell its owner');
        return;
      }
      await mailer.send(
        'recovery-code-used',
        user.email,
        {
          username: user.username,
          remaining,
          at: `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
          accountLink: new URL('/account', deps.issuer).href,
          forgotLink: new URL('/password/forgot', deps.issuer).href,
        },
        user.locale,
      );
    } catch (err) {
      deps.log.error({ err, userId }, 'recovery code notice not queued');
    }
  },
});

export interface SecondFactorService {
  /** whether the user has a confirmed authenticator app, and how many unused recovery codes */
  status(userId: string): Promise<{ totp: boolean; recoveryCodes: number }>;
  hasTotp(userId: string): Promise<boolean>;
  /** A new enrolment (replacing an unconfirmed one); undefined when an app is already confirmed. */
  startEnrolment(user: { id: string; username: string }): Promise<TotpEnrolment | undefined>;
  /** The unconfirmed enrolment, to show again; undefined when there is none. */
  pendingEnrolment(user: { id: string; username: string }): Promise<TotpEnrolment | undefined>;
  /** Confirms the enrolment with a code from the app; returns the recovery codes, shown this once. */
  confirmEnrolment(
    userId: string,
    code: string,
    ctx: { ip?: string | undefined },
  ): Promise<{ ok: true; recoveryCodes: string[] } | { ok: false; reason: 'invalid_code' | 'no_enrolment' }>;
  /** Removes the authenticator app and the recovery codes; false when there was none. */
  removeTotp(userId: string, ctx: { ip?: string | undefined }): Promise<boolean>;
  /** New recovery codes replacing the old; undefined without a confirmed app. */
  regenerateRecoveryCodes(userId: string, ctx: { ip?: string | undefined }): Promise<string[] | undefined>;
  /** A code at the second-factor step or a step-up: TOTP or a recovery code, within the limits. */
  verify(userId: string, typed: string, ctx: CodeContext): Promise<CodeResult>;
  /** The admin's reset: the app and the recovery codes go (the admin API records `mfa.reset`). */
  reset(userId: string): Promise<{ totp: boolean; recoveryCodes: number }>;
  /** Lifts the code limits of the user (with the sign-in lockouts). */
  unlock(userId: string): Promise<void>;
}

export function createSecondFactorService(deps: {
  repo: SecondFactorRepository;
  /** AES-256-GCM key for the TOTP secrets (DerivedKeys.totpEncryption) */
  encryptionKey: Buffer;
  /** HMAC key for recovery codes (DerivedKeys.recoveryCodeHmac) */
  recoveryKey: KeyObject;
  /** the issuer label authenticator apps show */
  issuerLabel: string;
  store: RateLimitStore;
  events: Pick<SecurityEventService, 'record'>;
  metrics: Pick<Metrics, 'signins' | 'lockouts' | 'rateLimited'>;
  notifier: SecondFactorNotifier;
  now?: () => number;
}): SecondFactorService {
  const { repo, encryptionKey, recoveryKey, events, metrics } = deps;
  const now = deps.now ?? (() => Date.now());
  const context = (userId: string) => `totp:${userId}`;
  const short = deps.store.limiter({ name: 'mfa-code', ...CODE_LIMITS.short });
  const day = deps.store.limiter({ name: 'mfa-code-day', ...CODE_LIMITS.day });

  const enrolmentOf = (user: { id: string; username: string }, secretEnc: string): TotpEnrolment => {
    const secret = Buffer.from(unseal(secretEnc, encryptionKey, context(user.id)), 'base64url');
    return { secret: base32Encode(secret), uri: otpauthUri(secret, deps.issuerLabel, user.username) };
  };
  const newCodes = (userId: string) => {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, generateRecoveryCode);
    return { codes, hashes: codes.map((c) => hashRecoveryCode(userId, normalizeCode(c), recoveryKey)) };
  };
  const record = (
    type: SecondFactorEvent,
    userId: string,
    ctx: { ip?: string | undefined; clientId?: string | undefined },
    details?: Record<string, unknown>,
  ) => events.record({ type, actor: userId, subject: userId, ip: ctx.ip, clientId: ctx.clientId, details });

  /** The code's step if it is a TOTP code of the confirmed app, used now (once, across instances). */
  const useTotp = async (userId: string, code: string): Promise<boolean> => {
    const totp = await repo.findTotp(userId);
    if (!totp?.confirmedAt) return false;
    const secret = Buffer.from(unseal(totp.secretEnc, encryptionKey, context(userId)), 'base64url');
    const step = matchTotp(secret, code, Math.floor(now() / 1000), totp.lastStep);
    return step !== undefined && (await repo.useTotpStep(userId, step, new Date(now()))) === true;
  };

  const service: SecondFactorService = {
    async status(userId) {
      const [totp, recoveryCodes] = await Promise.all([repo.findTotp(userId), repo.countRecoveryCodes(userId)]);
      return { totp: totp?.confirmedAt != null, recoveryCodes };
    },

    hasTotp: async (userId) => (await repo.findTotp(userId))?.confirmedAt != null,

    async startEnrolment(user) {
      const secretEnc = seal(generateTotpSecret().toString('base64url'), encryptionKey, context(user.id));
      if (!(await repo.startTotp(user.id, secretEnc))) return undefined;
      return enrolmentOf(user, secretEnc);
    },

    async pendingEnrolment(user) {
      const totp = await repo.findTotp(user.id);
      return totp && !totp.confirmedAt ? enrolmentOf(user, totp.secretEnc) : undefined;
    },

    async confirmEnrolment(userId, code, ctx) {
      const totp = await repo.findTotp(userId);
      if (!totp || totp.confirmedAt) return { ok: false, reason: 'no_enrolment' };
      const secret = Buffer.from(unseal(totp.secretEnc, encryptionKey, context(userId)), 'base64url');
      const step = matchTotp(secret, normalizeCode(code), Math.floor(now() / 1000), -1);
      if (step === undefined) return { ok: false, reason: 'invalid_code' };
      const { codes, hashes } = newCodes(userId);
      // the confirming code's step counts as used: it cannot sign in right after
      if ((await repo.confirmTotp(userId, totp.secretEnc, step, hashes)) !== true) {
        return { ok: false, reason: 'no_enrolment' };
      }
      record('mfa.totp_added', userId, ctx);
      record('mfa.recovery_codes_generated', userId, ctx, { count: codes.length, reason: 'enrolment' });
      return { ok: true, recoveryCodes: codes };
    },

    async removeTotp(userId, ctx) {
      const removed = await repo.removeAll(userId);
      if (!removed.totp) return false;
      record('mfa.totp_removed', userId, ctx, { by: 'user', recovery_removed: removed.recoveryCodes });
      return true;
    },

    async regenerateRecoveryCodes(userId, ctx) {
      if (!(await service.hasTotp(userId))) return undefined;
      const { codes, hashes } = newCodes(userId);
      await repo.replaceRecoveryCodes(userId, hashes);
      record('mfa.recovery_codes_generated', userId, ctx, { count: codes.length, reason: 'regenerated' });
      return codes;
    },

    async verify(userId, typed, ctx) {
      const [byShort, byDay] = await Promise.all([short.peek(userId), day.peek(userId)]);
      const over = [byShort, byDay].find((v, i) => v.count >= (i === 0 ? short.points : day.points));
      if (over) {
        metrics.rateLimited.inc({ limit: 'mfa_code' });
        metrics.signins.inc({ outcome: 'locked', method: 'second_factor' });
        return { ok: false, reason: 'too_many_attempts', retryAfter: over.retryAfter };
      }
      const code = normalizeCode(typed);
      const at = new Date(now());
      if (isTotpCode(code) && (await useTotp(userId, code))) {
        metrics.signins.inc({ outcome: 'success', method: 'totp' });
        return { ok: true, method: 'totp' };
      }
      if (isRecoveryCode(code)) {
        const remaining = await repo.useRecoveryCode(userId, hashRecoveryCode(userId, code, recoveryKey), at);
        if (remaining !== undefined) {
          metrics.signins.inc({ outcome: 'success', method: 'recovery_code' });
          record('mfa.recovery_code_used', userId, ctx, { remaining, purpose: ctx.purpose });
          await deps.notifier.recoveryCodeUsed(userId, remaining, at);
          return { ok: true, method: 'recovery_code' };
        }
      }
      const [afterShort, afterDay] = await Promise.all([short.hit(userId), day.hit(userId)]);
      const method = isRecoveryCode(code) ? 'recovery_code' : 'totp';
      metrics.signins.inc({ outcome: 'failure', method });
      events.record({
        type: 'signin.failed',
        outcome: 'failure',
        actor: userId,
        subject: userId,
        ip: ctx.ip,
        clientId: ctx.clientId,
        details: { reason: 'invalid_second_factor', method, purpose: ctx.purpose },
      });
      // only the failure that reaches a limit reports the lock
      const locked =
        afterShort.count === short.points
          ? 'second_factor'
          : afterDay.count === day.points
            ? 'second_factor_day'
            : undefined;
      if (locked) {
        metrics.lockouts.inc({ scope: locked });
        events.record({
          type: 'signin.locked',
          outcome: 'failure',
          actor: userId,
          subject: userId,
          ip: ctx.ip,
          clientId: ctx.clientId,
          details: { scope: locked, failures: locked === 'second_factor' ? afterShort.count : afterDay.count },
        });
      }
      return { ok: false, reason: 'invalid_code' };
    },

    async reset(userId) {
      const removed = await repo.removeAll(userId);
      await service.unlock(userId);
      return removed;
    },

    async unlock(userId) {
      await Promise.all([short.reset(userId), day.reset(userId)]);
    },
  };
  return service;
}
