import type { Logger } from '../logger.ts';
import type { PasswordPolicyCode, PasswordService } from './passwords.ts';
import type { UserRepository } from './ports/users.ts';
import type { Limiter } from './rate-limits.ts';
import type { SecurityEventInput } from './security-events.ts';
import type { SessionActor, SessionService } from './sessions.ts';

export type PasswordChangeResult =
  | { ok: true; sessionsEnded: number }
  | { ok: false; reason: 'wrong_password' | 'too_many_attempts'; retryAfter?: number }
  /** the new password breaks the policy (or repeats the current one): `message` says how */
  | { ok: false; reason: 'weak_password'; code: PasswordPolicyCode | 'password_unchanged'; message: string }
  | { ok: false; reason: 'not_found' };

/** A person changes their own password from a session of theirs (/account). */
export interface PasswordChange {
  /**
   * Checks the current password (rate limited per account, like sign-in), applies the password
   * policy to the new one, stores it, then ends every other session of the user with its refresh
   * tokens, and their access tokens: whoever knew the old password is out. The session making
   * the change stays. Records `password.changed` (never a password).
   */
  change(
    userId: string,
    sessionId: string,
    input: { current: string; next: string },
    who: Omit<SessionActor, 'by'>,
  ): Promise<PasswordChangeResult>;
}

export function createPasswordChange(deps: {
  users: Pick<UserRepository, 'findById' | 'update'>;
  passwords: PasswordService;
  sessions: Pick<SessionService, 'endOthers'>;
  /** wrong current passwords, per account (the sign-in per-account limit) */
  limiter: Limiter;
  events: { record(event: SecurityEventInput): void };
  log: Logger;
}): PasswordChange {
  const { users, passwords, sessions, limiter, events, log } = deps;
  return {
    async change(userId, sessionId, input, who) {
      const key = `password-change:${userId}`;
      const gate = await limiter.peek(key);
      if (!gate.allowed) return { ok: false, reason: 'too_many_attempts', retryAfter: gate.retryAfter };
      const user = await users.findById(userId);
      if (user?.status !== 'active') return { ok: false, reason: 'not_found' };
      // one argon2 verification whether or not the account has a password (then it always fails)
      const check = await passwords.verify(user.passwordHash, input.current);
      const base = { type: 'password.changed', subject: userId, actor: userId, ip: who.ip, userAgent: who.userAgent };
      if (!check.ok) {
        await limiter.hit(key);
        events.record({ ...base, outcome: 'failure', details: { reason: 'wrong_password' } });
        return { ok: false, reason: 'wrong_password' };
      }
      const policy = passwords.check(input.next, { username: user.username, email: user.email });
      if (!policy.ok) return { ok: false, reason: 'weak_password', code: policy.code, message: policy.message };
      if (input.next === input.current) {
        return {
          ok: false,
          reason: 'weak_password',
          code: 'password_unchanged',
          message: 'The new password must differ from the current one.',
        };
      }
      const updated = await users.update(userId, { passwordHash: await passwords.hash(input.next) });
      if (updated === undefined || updated === 'stale') return { ok: false, reason: 'not_found' };
      await limiter.reset(key);
      const sessionsEnded = await sessions.endOthers(userId, sessionId, 'password_changed', { ...who, by: 'self' });
      log.info({ userId, sessionsEnded }, 'password changed by its owner');
      events.record({ ...base, details: { sessions_ended: sessionsEnded } });
      return { ok: true, sessionsEnded };
    },
  };
}
