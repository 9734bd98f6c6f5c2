import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import { type AccountTokens, credentialStamp, TOKEN_TTL_SECONDS } from './account-tokens.ts';
import { type AccountService, normalizeUsername, RegisterInput } from './accounts.ts';
import type { Mailer } from './mail.ts';
import type { RequestContext } from './password-reset.ts';
import type { PasswordPolicyCode, PasswordService } from './passwords.ts';
import { UniqueViolation } from './ports/errors.ts';
import type { UserRepository } from './ports/users.ts';
import type { Limiter } from './rate-limits.ts';
import type { SecurityEventService } from './security-events.ts';

export interface FieldProblem {
  field: 'username' | 'email' | 'password' | 'current_password';
  /** what is wrong, stable (the pages show their own words for it) */
  code: FieldProblemCode;
  message: string;
}

export type FieldProblemCode =
  | 'invalid_username'
  | 'username_taken'
  | 'invalid_email'
  | 'same_email'
  | 'wrong_password'
  | PasswordPolicyCode;

export type SignupOutcome =
  /** the one answer for a new address and a taken one: "check your mail" */
  { kind: 'check_mail' } | { kind: 'invalid'; problem: FieldProblem } | { kind: 'limited'; retryAfter: number };

export type EmailChangeOutcome =
  | { kind: 'check_mail' }
  | { kind: 'invalid'; problem: FieldProblem }
  | { kind: 'limited'; retryAfter: number };

export type ConfirmOutcome =
  | { ok: true; kind: 'signup' | 'email_change'; username: string }
  | { ok: false; reason: 'invalid_token' | 'username_taken' | 'email_taken' };

export interface EmailVerificationService {
  readonly available: boolean;
  readonly signupEnabled: boolean;
  /** Self sign-up. With verification required the account is made only when the link is followed. */
  signup(input: { username: string; email: string; password: string }, ctx: RequestContext): Promise<SignupOutcome>;
  /** The account page: mails a link to `email`; the address changes when it is followed (the old one is told). */
  requestChange(
    userId: string,
    email: string,
    currentPassword: string,
    ctx: RequestContext,
  ): Promise<EmailChangeOutcome>;
  /** what the confirmation page shows before the button: the link is good, and what it does */
  check(token: unknown): Promise<{ kind: 'signup' | 'email_change'; email: string } | undefined>;
  /** follows the link: makes the account (sign-up) or changes and verifies the address */
  confirm(token: unknown, ctx: RequestContext): Promise<ConfirmOutcome>;
}

const Email = z.email('must be an email address').max(254);
const SignupFields = RegisterInput.pick({ username: true });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const normalizeEmail = (email: string) => email.trim().toLowerCase();

/**
 * Email verification for sign-up and for a changed address. A pending sign-up is a token, not an
 * account: the account (with its password hash) is made when its address is confirmed, so nobody
 * holds a username or an address they cannot receive mail at. Sign-up answers the same for a new
 * address and a taken one (the owner of the taken one gets a mail saying someone tried); only a
 * taken username is said, which no sign-up form can avoid. The confirmation link opens a page
 * with a button: a mail scanner that fetches the link confirms nothing.
 */
export function createEmailVerificationService(deps: {
  issuer: string;
  signup: { enabled: boolean; requireVerification: boolean };
  accounts: Pick<AccountService, 'get' | 'update'>;
  users: Pick<UserRepository, 'findById' | 'findByEmail' | 'findByUsername' | 'create'>;
  passwords: PasswordService;
  tokens: AccountTokens;
  mailer: Mailer;
  limits: { perIp: Limiter; perAddress: Limiter };
  events: Pick<SecurityEventService, 'record'>;
  log: Logger;
  /** the time every sign-up answer takes at least (default 600 ms: above one argon2id hash) */
  answerFloorMs?: number;
}): EmailVerificationService {
  const { issuer, accounts, users, passwords, tokens, mailer, limits, events, log } = deps;
  const floorMs = deps.answerFloorMs ?? 600;
  const forgotLink = `${issuer}/password/forgot`;
  const hours = TOKEN_TTL_SECONDS.email_verification / 3600;

  const limited = async (pairs: readonly (readonly [Limiter, string])[]) => {
    for (const [limiter, key] of pairs) {
      const verdict = await limiter.hit(key);
      if (!verdict.allowed) return { kind: 'limited' as const, retryAfter: verdict.retryAfter };
    }
    return undefined;
  };

  const mailVerification = async (
    purpose: 'signup' | 'email_verification',
    fields: {
      userId: string | null;
      email: string;
      username: string;
      data?: Record<string, unknown>;
      locale: string | null | undefined;
    },
  ) => {
    const { value } = await tokens.issue(purpose, { userId: fields.userId, email: fields.email, data: fields.data });
    await mailer.send(
      'verify-email',
      fields.email,
      {
        username: fields.username,
        email: fields.email,
        signup: purpose === 'signup',
        hours,
        link: `${issuer}/email/verify?token=${value}`,
      },
      fields.locale,
    );
  };

  const signupWork = async (username: string, email: string, password: string, ctx: RequestContext) => {
    const existing = await users.findByEmail(email);
    // one argon2id hash either way: the time does not tell a taken address from a new one
    const passwordHash = await passwords.hash(password);
    if (existing) {
      await mailer.send('signup-exists', email, { forgotLink }, existing.locale ?? ctx.locale);
      log.info({ userId: existing.id }, 'sign-up with an address in use: its owner was told');
      return;
    }
    if (deps.signup.requireVerification) {
      await mailVerification('signup', {
        userId: null,
        email,
        username,
        data: { username, passwordHash, ...(ctx.locale ? { locale: ctx.locale } : {}) },
        locale: ctx.locale,
      });
      return;
    }
    const user = await users.create({
      id: randomUUID(),
      username,
      usernameNormalized: normalizeUsername(username),
      email,
      emailVerified: false,
      passwordHash,
      status: 'active',
      locale: ctx.locale ?? null,
    });
    events.record({
      type: 'user.created',
      subject: user.id,
      actor: user.id,
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      details: { by: 'self', verified: false },
    });
    await mailVerification('email_verification', {
      userId: user.id,
      email,
      username,
      data: { stamp: credentialStamp(user) },
      locale: ctx.locale,
    });
  };

  return {
    available: mailer.available,
    signupEnabled: deps.signup.enabled && mailer.available,

    async signup(input, ctx) {
      const started = performance.now();
      const name = SignupFields.safeParse({ username: input.username });
      if (!name.success) {
        return {
          kind: 'invalid',
          problem: { field: 'username', code: 'invalid_username', message: name.error.issues[0]?.message ?? 'invalid' },
        };
      }
      const address = Email.safeParse(input.email.trim());
      if (!address.success)
        return {
          kind: 'invalid',
          problem: { field: 'email', code: 'invalid_email', message: 'must be an email address' },
        };
      const username = name.data.username;
      const email = normalizeEmail(address.data);
      const policy = passwords.check(input.password, { username, email });
      if (!policy.ok)
        return { kind: 'invalid', problem: { field: 'password', code: policy.code, message: policy.message } };
      const over = await limited([
        [limits.perIp, `signup:${ctx.ip ?? 'unknown'}`],
        [limits.perAddress, `signup:${email}`],
      ]);
      if (over) return over;
      // a taken username cannot be hidden from a sign-up form; a taken address can, and is
      if (await users.findByUsername(normalizeUsername(username))) {
        return {
          kind: 'invalid',
          problem: { field: 'username', code: 'username_taken', message: 'This username is already taken.' },
        };
      }
      try {
        await signupWork(username, email, input.password, ctx);
      } catch (err) {
        if (err instanceof UniqueViolation && err.field === 'username') {
          return {
            kind: 'invalid',
            problem: { field: 'username', code: 'username_taken', message: 'This username is already taken.' },
          };
        }
        // the address taken meanwhile: the same answer as for a taken one
        if (!(err instanceof UniqueViolation)) throw err;
      }
      const left = floorMs - (performance.now() - started);
      if (left > 0) await sleep(left);
      return { kind: 'check_mail' };
    },

    async requestChange(userId, email, currentPassword) {
      const user = await users.findById(userId);
      if (user?.status !== 'active')
        return { kind: 'invalid', problem: { field: 'email', code: 'invalid_email', message: 'unknown account' } };
      const over = await limited([[limits.perAddress, `email-change:${userId}`]]);
      if (over) return over;
      const check = await passwords.verify(user.passwordHash, currentPassword);
      if (!check.ok) {
        return {
          kind: 'invalid',
          problem: {
            field: 'current_password',
            code: 'wrong_password',
            message: 'Your current password is not right.',
          },
        };
      }
      const address = Email.safeParse(email.trim());
      if (!address.success)
        return {
          kind: 'invalid',
          problem: { field: 'email', code: 'invalid_email', message: 'must be an email address' },
        };
      const newEmail = normalizeEmail(address.data);
      if (newEmail === user.email && user.emailVerified) {
        return {
          kind: 'invalid',
          problem: { field: 'email', code: 'same_email', message: 'This is already your verified address.' },
        };
      }
      // an address another account holds is not said here: the change fails when the link is followed
      // only the latest asked-for address can be confirmed
      await tokens.revokeAll(userId, 'email_verification');
      // bound to the password and address of now: once the owner changes the password (having
      // seen the notice below), a change asked for with the old one can no longer be confirmed
      await mailVerification('email_verification', {
        userId,
        email: newEmail,
        username: user.username,
        locale: user.locale,
        data: { stamp: credentialStamp(user) },
      });
      if (user.email && user.email !== newEmail) {
        await mailer.send(
          'email-change-notice',
          user.email,
          { username: user.username, newEmail, forgotLink },
          user.locale,
        );
      }
      log.info({ userId }, 'email verification mailed');
      return { kind: 'check_mail' };
    },

    async check(token) {
      const signup = await tokens.peek('signup', token);
      if (signup?.email) return { kind: 'signup', email: signup.email };
      const change = await tokens.peek('email_verification', token);
      if (!change?.email || !change.userId) return undefined;
      const record = await users.findById(change.userId);
      return record?.status === 'active' && change.data.stamp === credentialStamp(record)
        ? { kind: 'email_change', email: change.email }
        : undefined;
    },

    async confirm(token, ctx) {
      const signup = await tokens.consume('signup', token);
      if (signup?.email) {
        const username = typeof signup.data.username === 'string' ? signup.data.username : '';
        const passwordHash = typeof signup.data.passwordHash === 'string' ? signup.data.passwordHash : null;
        try {
          const user = await users.create({
            id: randomUUID(),
            username,
            usernameNormalized: normalizeUsername(username),
            email: signup.email,
            emailVerified: true,
            passwordHash,
            status: 'active',
            locale: typeof signup.data.locale === 'string' ? signup.data.locale : null,
          });
          const who = { subject: user.id, actor: user.id, ip: ctx.ip, userAgent: ctx.userAgent };
          events.record({ type: 'user.created', ...who, details: { by: 'self', verified: true } });
          events.record({ type: 'email.verified', ...who, details: { by: 'signup' } });
          return { ok: true, kind: 'signup', username };
        } catch (err) {
          if (err instanceof UniqueViolation) {
            return { ok: false, reason: err.field === 'email' ? 'email_taken' : 'username_taken' };
          }
          throw err;
        }
      }
      const change = await tokens.consume('email_verification', token);
      if (!change?.email || !change.userId) return { ok: false, reason: 'invalid_token' };
      const record = await users.findById(change.userId);
      if (record?.status !== 'active' || change.data.stamp !== credentialStamp(record)) {
        return { ok: false, reason: 'invalid_token' };
      }
      const user = await accounts.get(record.id);
      if (!user) return { ok: false, reason: 'invalid_token' };
      try {
        await accounts.update(user.id, { email: change.email, emailVerified: true });
      } catch (err) {
        if ((err as { code?: string }).code === 'conflict') return { ok: false, reason: 'email_taken' };
        throw err;
      }
      events.record({
        type: 'email.verified',
        subject: user.id,
        actor: user.id,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
        details: { by: user.email === change.email ? 'verification' : 'change' },
      });
      return { ok: true, kind: 'email_change', username: user.username };
    },
  };
}
