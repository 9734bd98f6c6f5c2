import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'koa';
import { normalizeUsername } from '../../services/accounts.ts';
import type { LimitName, Protection } from '../../services/protection.ts';
import type { Pages } from '../pages.ts';

export type SigninOutcome =
  | { ok: true; userId: string }
  | { ok: false; reason: 'invalid_credentials' | 'disabled' | 'empty' };

/** The id of the account a login name designates, if any: only for the event log, after the answer. */
export type FindUserId = (login: string) => Promise<string | undefined>;

/**
 * What the sign-in pages do about abuse and for the record: rate limits per address and per
 * account name, progressive delay and lockout (src/services/brute-force.ts), sign-in metrics and
 * security events. The interaction router calls `before` ahead of the password check and
 * `after` with its result.
 */
export interface SigninProtection {
  /** true when it answered already (the friendly 429 page); otherwise it may have held the request a while */
  before(ctx: Context, login: string, clientId: string | undefined): Promise<boolean>;
  after(ctx: Context, login: string, outcome: SigninOutcome, clientId: string | undefined): Promise<void>;
  /** consent given or refused on the consent page (or skipped for a first-party client) */
  consent(
    ctx: Context,
    granted: boolean,
    clientId: unknown,
    userId: string | undefined,
    details?: Record<string, unknown>,
  ): void;
}

const minutes = (seconds: number) => Math.max(1, Math.ceil(seconds / 60));

export function createSigninProtection(
  protection: Protection,
  pages: Pick<Pages, 'error'>,
  findUserId: FindUserId,
): SigninProtection {
  const { limits, bruteForce, events, metrics, surge } = protection;
  /**
   * Records a failure event about `login` once its account (if any) is known. The lookup runs
   * after the answer, never before it: the failure page must not wait on whether the account
   * exists (DESIGN §6), and the sign-in service keeps answering every failure alike.
   */
  const recordAbout = (login: string, event: Parameters<typeof events.record>[0]) => {
    if (login === '') return events.record(event);
    findUserId(login)
      .then((subject) => events.record({ ...event, subject }))
      .catch(() => events.record(event));
  };
  const accountKey = (login: string) => createHash('sha256').update(normalizeUsername(login)).digest('base64url');
  const who = (ctx: Context, clientId: string | undefined) => ({
    ip: ctx.ip,
    userAgent: ctx.get('user-agent') || undefined,
    clientId,
  });

  const tooMany = (ctx: Context, retryAfter: number, message: string) => {
    ctx.set('Retry-After', String(retryAfter));
    pages.error(ctx, { status: 429, title: 'Too many attempts', message, code: 'too_many_requests' });
  };

  return {
    async before(ctx, login, clientId) {
      const checks: [LimitName, string][] = [['signin_ip', ctx.ip]];
      if (login !== '') checks.push(['signin_account', accountKey(login)]);
      for (const [limit, key] of checks) {
        const verdict = await limits[limit].hit(key);
        if (verdict.allowed) continue;
        protection.refused(limit, verdict, { ...who(ctx, clientId), ...(login ? { subject: login } : {}) }, key);
        metrics.signins.inc({ outcome: 'rate_limited', method: 'password' });
        tooMany(
          ctx,
          verdict.retryAfter,
          `Too many sign-in attempts. Wait ${minutes(verdict.retryAfter)} minute(s) and try again.`,
        );
        return true;
      }
      if (login === '') return false;

      const gate = await bruteForce.check(login, ctx.ip);
      if (gate.locked) {
        metrics.rateLimited.inc({ limit: 'lockout' });
        metrics.signins.inc({ outcome: 'locked', method: 'password' });
        events.record({
          type: 'signin.failed',
          outcome: 'failure',
          ...who(ctx, clientId),
          details: { reason: 'locked', scope: gate.scope, login },
        });
        // the same words whether or not the account exists: the lock is on the name typed
        tooMany(
          ctx,
          gate.retryAfter,
          `Too many failed sign-in attempts for this account. For your security, try again in ${minutes(gate.retryAfter)} minute(s).`,
        );
        return true;
      }
      // progressive delay: every further guess costs the attacker more time
      if (gate.delayMs > 0) await sleep(gate.delayMs);
      return false;
    },

    async after(ctx, login, outcome, clientId) {
      if (outcome.ok) {
        if (login !== '') await bruteForce.succeeded(login, ctx.ip);
        metrics.signins.inc({ outcome: 'success', method: 'password' });
        events.record({
          type: 'signin.succeeded',
          ...who(ctx, clientId),
          actor: outcome.userId,
          subject: outcome.userId,
          details: { method: 'password' },
        });
        return;
      }
      metrics.signins.inc({ outcome: 'failure', method: 'password' });
      surge.observe('failures', 'ip', ctx.ip);
      recordAbout(login, {
        type: 'signin.failed',
        outcome: 'failure',
        ...who(ctx, clientId),
        // the name typed, cut short: it is what was attacked, known account or not
        details: { reason: outcome.reason, method: 'password', login: login.slice(0, 64) },
      });
      if (login === '') return;
      surge.observe('failures', 'account', accountKey(login));
      const lock = await bruteForce.failed(login, ctx.ip);
      if (!lock) return;
      metrics.lockouts.inc({ scope: lock.scope });
      recordAbout(login, {
        type: 'signin.locked',
        outcome: 'failure',
        ...who(ctx, clientId),
        details: { scope: lock.scope, failures: lock.failures, login: login.slice(0, 64) },
      });
    },

    consent(ctx, granted, clientId, userId, details) {
      events.record({
        type: granted ? 'consent.granted' : 'consent.denied',
        ...who(ctx, typeof clientId === 'string' ? clientId : undefined),
        actor: userId,
        subject: userId,
        details,
      });
    },
  };
}
