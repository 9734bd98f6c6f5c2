import { AppError, invalidField, notFound } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { type AccountTokens, credentialStamp, TOKEN_TTL_SECONDS } from './account-tokens.ts';
import type { AccountService } from './accounts.ts';
import type { BruteForceProtection } from './brute-force.ts';
import type { Mailer } from './mail.ts';
import type { PasswordPolicyCode, PasswordService } from './passwords.ts';
import type { AccountTokenRecord } from './ports/account-tokens.ts';
import type { UserRepository } from './ports/users.ts';
import type { Limiter } from './rate-limits.ts';
import type { SecurityEventService } from './security-events.ts';

/** Who is asking, for the limits and the event log. */
export interface RequestContext {
  ip?: string | undefined;
  userAgent?: string | undefined;
  /** the language of the page the request came from: mails to someone we know nothing of yet are in it */
  locale?: string | undefined;
}

export type ResetRequestOutcome =
  /** the one answer whether or not the account exists: "if it exists, a link is on its way" */
  | { kind: 'accepted' }
  /** over a limit that counts every request alike (per address, per name typed) */
  | { kind: 'limited'; retryAfter: number };

export type ResetOutcome =
  | { ok: true }
  | { ok: false; reason: 'invalid_token' }
  | { ok: false; reason: 'weak_password'; code: PasswordPolicyCode; message: string };

export interface PasswordResetService {
  /** false without a mail transport: the pages say so and the sign-in page does not link here */
  readonly available: boolean;
  /**
   * "Forgot password?": mails a reset link to the account `login` (username or email) names, when
   * it exists, is active and has an address. The answer and its timing are the same either way.
   */
  request(login: string, ctx: RequestContext): Promise<ResetRequestOutcome>;
  /** the reset page: whether the link is still good, and for whom */
  check(token: unknown): Promise<{ username: string } | undefined>;
  /** sets the new password, ends every session and token of the user, and mails a notice */
  complete(token: unknown, password: string, ctx: RequestContext): Promise<ResetOutcome>;
  /**
   * The admin API: mails a reset link to the user now.
   * @throws AppError 404 for no such user, 400 naming `email` when there is no address to mail
   */
  sendFor(userId: string): Promise<{ expiresAt: Date }>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Password reset by mail, after the OWASP Forgot Password Cheat Sheet: one answer for existing
 * and unknown accounts, given after the same time (the work runs while a fixed floor elapses, so
 * the answer leaves at the floor whichever way it went), limits per client address and per name
 * typed (both count every request alike, so a refusal says nothing about the account) and per
 * account (which refuses silently), a single-use token kept hashed and valid for 15 minutes,
 * then every session and token of the user ended.
 */
export function createPasswordResetService(deps: {
  issuer: string;
  accounts: Pick<AccountService, 'idOfLogin' | 'get' | 'update'>;
  /** the stored password hash and address a link was issued against (`credentialStamp`) */
  users: Pick<UserRepository, 'findById'>;
  passwords: Pick<PasswordService, 'check'>;
  tokens: AccountTokens;
  mailer: Mailer;
  limits: { perIp: Limiter; perName: Limiter; perAccount: Limiter };
  bruteForce: Pick<BruteForceProtection, 'unlock'>;
  events: Pick<SecurityEventService, 'record'>;
  log: Logger;
  /** the time every "forgot password" answer takes at least (default 400 ms) */
  answerFloorMs?: number;
}): PasswordResetService {
  const { issuer, accounts, tokens, mailer, limits, events, log } = deps;
  const floorMs = deps.answerFloorMs ?? 400;
  const forgotLink = `${issuer}/password/forgot`;

  const mailLink = async (user: { id: string; username: string; email: string; locale: string | null | undefined }) => {
    const record = await deps.users.findById(user.id);
    if (!record) throw notFound('user');
    const { value, expiresAt } = await tokens.issue('password_reset', {
      userId: user.id,
      email: user.email,
      data: { stamp: credentialStamp(record) },
    });
    await mailer.send(
      'password-reset',
      user.email,
      {
        username: user.username,
        link: `${issuer}/password/reset?token=${value}`,
        minutes: TOKEN_TTL_SECONDS.password_reset / 60,
      },
      user.locale,
    );
    return expiresAt;
  };

  /**
   * The active user a live link belongs to, while the password and the address it was mailed to
   * are still the account's: a link sent to an address since replaced, or issued before the
   * password changed by any path, opens nothing.
   */
  const holderOf = async (found: AccountTokenRecord | undefined) => {
    if (!found?.userId) return undefined;
    const record = await deps.users.findById(found.userId);
    if (record?.status !== 'active' || record.email !== found.email) return undefined;
    if (found.data.stamp !== credentialStamp(record)) return undefined;
    return accounts.get(record.id);
  };

  /** The part that depends on the account; it never throws (the answer must not tell). */
  const work = async (login: string, ctx: RequestContext) => {
    try {
      const id = await accounts.idOfLogin(login);
      const user = id === undefined ? undefined : await accounts.get(id);
      if (user?.status !== 'active' || !user.email) {
        log.info({ known: user !== undefined }, 'password reset asked for an account that cannot get one');
        return;
      }
      const verdict = await limits.perAccount.hit(user.id);
      if (!verdict.allowed) {
        log.info({ userId: user.id }, 'password reset refused silently: over the limit for this account');
        return;
      }
      // the account's own language; the page's when it never used ours
      await mailLink({ id: user.id, username: user.username, email: user.email, locale: user.locale ?? ctx.locale });
      events.record({
        type: 'password.reset_requested',
        subject: user.id,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
        details: { by: 'self' },
      });
    } catch (err) {
      log.error({ err }, 'password reset request failed');
    }
  };

  return {
    available: mailer.available,

    async request(login, ctx) {
      const started = performance.now();
      const name = login.trim().slice(0, 254);
      for (const [limiter, key] of [
        [limits.perIp, ctx.ip ?? 'unknown'],
        [limits.perName, name.normalize('NFKC').toLowerCase()],
      ] as const) {
        const verdict = await limiter.hit(key);
        if (!verdict.allowed) return { kind: 'limited', retryAfter: verdict.retryAfter };
      }
      if (name !== '') await work(name, ctx);
      const left = floorMs - (performance.now() - started);
      if (left > 0) await sleep(left);
      else
        log.warn(
          { ms: Math.round(performance.now() - started), floorMs },
          'password reset answer took longer than its floor',
        );
      return { kind: 'accepted' };
    },

    async check(token) {
      const user = await holderOf(await tokens.peek('password_reset', token));
      return user ? { username: user.username } : undefined;
    },

    async complete(token, password, ctx) {
      const found = await tokens.peek('password_reset', token);
      const user = await holderOf(found);
      if (!found || !user) return { ok: false, reason: 'invalid_token' };
      // the rules first: a refused password leaves the link usable for another try
      const policy = deps.passwords.check(password, { username: user.username, email: user.email });
      if (!policy.ok) return { ok: false, reason: 'weak_password', code: policy.code, message: policy.message };
      // single use, across instances: of two submissions one consumes the token
      if (!(await tokens.consume('password_reset', token))) return { ok: false, reason: 'invalid_token' };
      // the link reached the mailbox, which is still the account's (holderOf): the address is the person's
      const verified = found.email !== null && found.email === user.email;
      // a new password ends every session, refresh and access token (AccountService.update)
      await accounts.update(user.id, { password, ...(verified ? { emailVerified: true } : {}) });
      await tokens.revokeAll(user.id, 'password_reset');
      // whoever locked the account out guessing can no longer use what they guessed
      await deps.bruteForce.unlock([user.username, ...(user.email ? [user.email] : [])]);
      events.record({
        type: 'password.changed',
        subject: user.id,
        actor: user.id,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
        details: { method: 'reset' },
      });
      if (user.email) {
        await mailer
          .send(
            'password-changed',
            user.email,
            {
              username: user.username,
              at: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
              forgotLink,
            },
            user.locale,
          )
          .catch((err: unknown) => log.error({ err, userId: user.id }, 'password change notice not queued'));
      }
      return { ok: true };
    },

    async sendFor(userId) {
      if (!mailer.available) {
        throw new AppError('invalid_request', 400, 'this server has no mail transport (set SMTP_URL)');
      }
      const user = await accounts.get(userId);
      if (!user) throw notFound('user');
      if (!user.email) throw invalidField('email', 'email: the user has no email address to send a reset link to');
      if (user.status !== 'active') throw invalidField('status', 'status: the user is disabled');
      return {
        expiresAt: await mailLink({ id: user.id, username: user.username, email: user.email, locale: user.locale }),
      };
    },
  };
}
