import { loginDigest } from './brute-force.ts';
import { addressKey } from './client-address.ts';
import type { Protection } from './protection.ts';
import type { SecurityEventInput } from './security-events.ts';

/** One password attempt on the login page, as plain values. */
export interface SigninAttempt {
  /** the client's address (after TRUST_PROXY) */
  address: string;
  userAgent: string | undefined;
  clientId: string | undefined;
  /** the login name as typed (trimmed, at most 254 characters); '' when none */
  login: string;
  /** the known-device proof: the signed cookie's value, entries of names this browser signed in with */
  knownDevices: string | undefined;
}

export type SigninGate =
  | { allowed: true /** hold the answer this long (progressive delay) */; delayMs: number }
  /** `too_many_attempts`: a rate limit (per address or per name); `locked`: the name is locked */
  | { allowed: false; reason: 'too_many_attempts' | 'locked'; retryAfter: number };

export type SigninFailure = 'invalid_credentials' | 'disabled' | 'empty';

/**
 * Abuse protection and the record of password sign-in: rate limits per address and per account
 * name, progressive delay and lockout (src/services/brute-force.ts), the sign-in metrics and
 * security events. `check` runs before the password is checked, `succeeded` or `failed` after.
 */
export interface SigninProtection {
  check(attempt: SigninAttempt): Promise<SigninGate>;
  /** @returns the new known-device proof, naming this login too */
  succeeded(attempt: SigninAttempt, userId: string): Promise<string>;
  failed(attempt: SigninAttempt, reason: SigninFailure): Promise<void>;
}

/** The known-device proof (docs/decisions/0006): login names this browser signed in with, at most this many. */
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

export function createSigninProtection(deps: {
  protection: Protection;
  /** the id of the account a login name designates, if any: only for the event log, after the answer */
  findUserId(login: string): Promise<string | undefined>;
  /** keys the digest of names in the event log and the known-device proof */
  digestKey: Buffer;
}): SigninProtection {
  const { limits, bruteForce, events, metrics, surge } = deps.protection;
  const { digestKey } = deps;
  /**
   * Records an event about `login` once its account (if any) is known. The lookup runs once the
   * answer is decided, never before it: the sign-in service keeps answering every failure alike.
   * The answer leaves once the event is stored (the same lookup and write for any name, so the
   * wait says nothing about the account). A name that names an account is kept (cut short); any
   * other only as `unknownLogin` describes it.
   */
  const recordAbout = (login: string, event: SecurityEventInput) => {
    if (login === '') return events.record(event);
    const unknown = () => ({ ...event, details: { ...event.details, ...unknownLogin(login, digestKey) } });
    events.beforeAnswer(
      deps
        .findUserId(login)
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
  const who = (a: SigninAttempt) => ({ ip: a.address, userAgent: a.userAgent, clientId: a.clientId });
  const deviceEntry = (login: string) => loginDigest(login, digestKey).slice(0, 22);
  const devices = (proof: string | undefined) => (proof ?? '').split('.').filter((e) => /^[A-Za-z0-9_-]{22}$/.test(e));

  return {
    async check(a) {
      // every attempt counts against its own address; the account-wide counts are failures only
      // (src/services/brute-force.ts), so that one address cannot keep the real user out
      const address = addressKey(a.address);
      const verdict = await limits.signin_ip.hit(address);
      if (!verdict.allowed) {
        deps.protection.refused('signin_ip', verdict, who(a), address);
        metrics.signins.inc({ outcome: 'rate_limited', method: 'password' });
        return { allowed: false, reason: 'too_many_attempts', retryAfter: verdict.retryAfter };
      }
      if (a.login === '') return { allowed: true, delayMs: 0 };

      const knownDevice = devices(a.knownDevices).includes(deviceEntry(a.login));
      const gate = await bruteForce.check(a.login, a.address, { knownDevice });
      if (gate.locked && gate.scope === 'account_rate') {
        // keyed: the name may be a password typed into the wrong field, and a plain hash of it
        // could be tested against guesses by anyone who reads the log
        const key = unknownLogin(a.login, digestKey).login_digest;
        deps.protection.refused(
          'signin_account',
          { allowed: false, count: limits.signin_account.points, retryAfter: gate.retryAfter },
          { ...who(a), subject: `login:${key}` },
          key,
        );
        metrics.signins.inc({ outcome: 'rate_limited', method: 'password' });
        return { allowed: false, reason: 'too_many_attempts', retryAfter: gate.retryAfter };
      }
      if (gate.locked) {
        metrics.rateLimited.inc({ limit: 'lockout' });
        metrics.signins.inc({ outcome: 'locked', method: 'password' });
        recordAbout(a.login, {
          type: 'signin.failed',
          outcome: 'failure',
          ...who(a),
          details: { reason: 'locked', scope: gate.scope },
        });
        return { allowed: false, reason: 'locked', retryAfter: gate.retryAfter };
      }
      return { allowed: true, delayMs: gate.delayMs };
    },

    async succeeded(a, userId) {
      await bruteForce.succeeded(a.login, a.address);
      metrics.signins.inc({ outcome: 'success', method: 'password' });
      events.record({
        type: 'signin.succeeded',
        ...who(a),
        actor: userId,
        subject: userId,
        details: { method: 'password' },
      });
      // from now on this browser is spared the account-wide locks of this name
      const entry = deviceEntry(a.login);
      return [entry, ...devices(a.knownDevices).filter((e) => e !== entry)].slice(0, KNOWN_DEVICE_MAX).join('.');
    },

    async failed(a, reason) {
      metrics.signins.inc({ outcome: 'failure', method: 'password' });
      surge.observe('failures', 'ip', a.address);
      recordAbout(a.login, {
        type: 'signin.failed',
        outcome: 'failure',
        ...who(a),
        details: { reason, method: 'password' },
      });
      if (a.login === '') return;
      // the surge warning logs this key: keyed for the same reason as the event log's digest
      surge.observe('failures', 'account', unknownLogin(a.login, digestKey).login_digest);
      const lock = await bruteForce.failed(a.login, a.address);
      if (!lock) return;
      metrics.lockouts.inc({ scope: lock.scope });
      recordAbout(a.login, {
        type: 'signin.locked',
        outcome: 'failure',
        ...who(a),
        details: { scope: lock.scope, failures: lock.failures },
      });
    },
  };
}
