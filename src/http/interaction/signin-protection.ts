import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'koa';
import { loginDigest } from '../../services/brute-force.ts';
import { addressKey } from '../../services/client-address.ts';
import type { Protection } from '../../services/protection.ts';
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

/** The known-device cookie (docs/decisions/0006): login names this browser signed in with. */
const KNOWN_DEVICE_COOKIE = 'idp_known';
const KNOWN_DEVICE_DAYS = 180;
const KNOWN_DEVICE_MAX = 8;

/**
 * What the event log keeps of a name that matches no account: often a password typed into the
 * username field, so never the text itself. A keyed digest (failures at one name can still be
 * told apart and grouped, and nobody without the key can test guesses against it) and the
 * first two characters.
 */
export function unknownLogin(login: string, key: Buffer): { login_prefix: string; login_digest: string } {
  const chars = [...login];
  return {
    login_prefix: chars.length > 2 ? `${chars.slice(0, 2).join('')}…` : '…',
    // the first characters of the counters' key: an operator can match the two
    login_digest: loginDigest(login, key).slice(0, 16),
  };
}

export function createSigninProtection(
  protection: Protection,
  pages: Pick<Pages, 'error'>,
  findUserId: FindUserId,
  /** keys the digest of unknown names in the event log */
  digestKey: Buffer,
): SigninProtection {
  const { limits, bruteForce, events, metrics, surge } = protection;
  /**
   * Records an event about `login` once its account (if any) is known. The lookup runs once the
   * answer is decided, never before it: the sign-in service keeps answering every failure alike.
   * The answer leaves once the event is stored (the same lookup and write for any name, so the
   * wait says nothing about the account). A name that names an account is kept (cut short); any
   * other only as `unknownLogin` describes it.
   */
  const recordAbout = (login: string, event: Parameters<typeof events.record>[0]) => {
    if (login === '') return events.record(event);
    const unknown = () => ({ ...event, details: { ...event.details, ...unknownLogin(login, digestKey) } });
    events.beforeAnswer(
      findUserId(login)
        .then((subject) =>
          events.record(
            subject === undefined
              ? unknown()
              : { ...event, subject, details: { ...event.details, login: login.slice(0, 64) } },
          ),
        )
        .catch(() => events.record(unknown())),
    );
  };
  const deviceEntry = (login: string) => loginDigest(login, digestKey).slice(0, 22);
  const knownDevice = (ctx: Context, login: string) =>
    (ctx.cookies.get(KNOWN_DEVICE_COOKIE, { signed: true }) ?? '').split('.').includes(deviceEntry(login));
  /** After a correct password: this browser is spared the account-wide locks of this name from now on. */
  const rememberDevice = (ctx: Context, login: string) => {
    const entry = deviceEntry(login);
    const others = (ctx.cookies.get(KNOWN_DEVICE_COOKIE, { signed: true }) ?? '')
      .split('.')
      .filter((e) => /^[A-Za-z0-9_-]{22}$/.test(e) && e !== entry);
    ctx.cookies.set(KNOWN_DEVICE_COOKIE, [entry, ...others].slice(0, KNOWN_DEVICE_MAX).join('.'), {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      path: '/interaction',
      maxAge: KNOWN_DEVICE_DAYS * 86_400_000,
    });
  };
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
      // every attempt counts against its own address; the account-wide counts are failures only
      // (src/services/brute-force.ts), so that one address cannot keep the real user out
      const address = addressKey(ctx.ip);
      const verdict = await limits.signin_ip.hit(address);
      if (!verdict.allowed) {
        protection.refused('signin_ip', verdict, who(ctx, clientId), address);
        metrics.signins.inc({ outcome: 'rate_limited', method: 'password' });
        tooMany(
          ctx,
          verdict.retryAfter,
          `Too many sign-in attempts. Wait ${minutes(verdict.retryAfter)} minute(s) and try again.`,
        );
        return true;
      }
      if (login === '') return false;

      const gate = await bruteForce.check(login, ctx.ip, { knownDevice: knownDevice(ctx, login) });
      if (gate.locked && gate.scope === 'account_rate') {
        // keyed: the name may be a password typed into the wrong field, and a plain hash of it
        // could be tested against guesses by anyone who reads the log
        const key = unknownLogin(login, digestKey).login_digest;
        protection.refused(
          'signin_account',
          { allowed: false, count: limits.signin_account.points, retryAfter: gate.retryAfter },
          { ...who(ctx, clientId), subject: `login:${key}` },
          key,
        );
        metrics.signins.inc({ outcome: 'rate_limited', method: 'password' });
        tooMany(
          ctx,
          gate.retryAfter,
          `Too many sign-in attempts. Wait ${minutes(gate.retryAfter)} minute(s) and try again.`,
        );
        return true;
      }
      if (gate.locked) {
        metrics.rateLimited.inc({ limit: 'lockout' });
        metrics.signins.inc({ outcome: 'locked', method: 'password' });
        recordAbout(login, {
          type: 'signin.failed',
          outcome: 'failure',
          ...who(ctx, clientId),
          details: { reason: 'locked', scope: gate.scope },
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
        if (login !== '') {
          await bruteForce.succeeded(login, ctx.ip);
          rememberDevice(ctx, login);
        }
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
        details: { reason: outcome.reason, method: 'password' },
      });
      if (login === '') return;
      // the surge warning logs this key: keyed for the same reason as the event log's digest
      surge.observe('failures', 'account', unknownLogin(login, digestKey).login_digest);
      const lock = await bruteForce.failed(login, ctx.ip);
      if (!lock) return;
      metrics.lockouts.inc({ scope: lock.scope });
      recordAbout(login, {
        type: 'signin.locked',
        outcome: 'failure',
        ...who(ctx, clientId),
        details: { scope: lock.scope, failures: lock.failures },
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
