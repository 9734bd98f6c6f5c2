import { createHmac } from 'node:crypto';
import { normalizeUsername } from './accounts.ts';
import { addressKey } from './client-address.ts';
import type { Limiter, RateLimitStore } from './rate-limits.ts';

/**
 * `account_ip`: this name from this address; `account`: this name from everywhere (the lock);
 * `account_rate`: this name from everywhere, per rate-limit window.
 */
export type LockScope = 'account_ip' | 'account' | 'account_rate';

export type Gate =
  | { locked: false /** wait this long before answering (progressive delay) */; delayMs: number }
  | { locked: true; scope: LockScope; retryAfter: number };

export interface CheckOptions {
  /** this browser signed in to this name before (a signed cookie): the account-wide refusals spare it */
  knownDevice?: boolean;
}

export interface BruteForceProtection {
  /** before the password is checked: refuse while locked, else say how long to hold the answer */
  check(login: string, ip: string, options?: CheckOptions): Promise<Gate>;
  /** after a failure; returns the lock this failure applied, if any */
  failed(login: string, ip: string): Promise<{ scope: LockScope; failures: number } | undefined>;
  /** after a success: the pair's failures are forgiven (the account-wide count is not) */
  succeeded(login: string, ip: string): Promise<void>;
  /** lifts every lock and counter on these login names (username, email): account-wide, per address, per window */
  unlock(logins: readonly string[]): Promise<void>;
}

export interface BruteForceOptions {
  store: RateLimitStore;
  /** keys the digest of login names in the counters (the event log's digest key) */
  digestKey: Buffer;
  /** failures of one login from one address before that pair is locked; 0: never */
  threshold: number;
  /** failures of one login from all addresses before it is locked everywhere; 0: never */
  accountThreshold: number;
  /** the lock's length and the window failures are counted in */
  lockoutSeconds: number;
  /** the first delay (after the second failure); doubles with each further one, up to 20 times it */
  delayMs: number;
  /** failures of one login from all addresses per window (RATE_LIMIT_SIGNIN_ACCOUNT); absent or 0 points: none */
  accountRate?: Limiter | undefined;
  /** the window of `accountRate`, in seconds (default 60) */
  accountRateWindowSeconds?: number | undefined;
}

/**
 * What the counters, the event log and the known-device cookie keep of a login name: normalized
 * as sign-in compares it, then a keyed digest (HMAC-SHA256). The name may be a password typed
 * into the wrong field; a plain hash of it in Redis could be tested against guesses by anyone
 * who reads the store, a keyed one only with the key (derived from SECRETS_KEY).
 */
export const loginDigest = (login: string, key: Buffer): string =>
  createHmac('sha256', key).update(normalizeUsername(login.trim())).digest('base64url');

/**
 * How many failures one address may add to an account-wide count in one window: a fifth of
 * the limit, so that reaching it takes at least five addresses (an address's share can fall
 * across two windows, so in the worst case one address brings less than half of it).
 */
const addressShare = (limit: number): number => Math.max(1, Math.ceil(limit / 5));

/**
 * Brute-force protection for password sign-in (docs/decisions/0006-brute-force-lockout.md).
 *
 * Keyed by the login name as typed (normalized), never by whether an account exists, so an
 * unknown name is delayed and locked exactly like a real one and the lock tells nothing.
 * Names reach the counter store only as `loginDigest`.
 *
 * - per login and address: a progressive delay from the second failure, then a lock after
 *   `threshold` failures. This stops one attacker guessing one account, at that address.
 * - per login from anywhere (the lock after `accountThreshold` failures, and the per-window
 *   rate): only failures count, never refused attempts, and each address counts for at most
 *   its share (`addressShare`), so one address cannot lock the real user out; a distributed
 *   guess still is stopped. A browser that signed in to the name before is spared these two.
 * - unlock: the account-wide counters are deleted; the per-address counters are orphaned by
 *   bumping the login's epoch, which is part of their keys (so no store needs to list keys).
 */
export function createBruteForceProtection(options: BruteForceOptions): BruteForceProtection {
  const { store, threshold, accountThreshold, lockoutSeconds, digestKey } = options;
  const loginKey = (login: string) => loginDigest(login, digestKey);
  const rateWindow = options.accountRateWindowSeconds ?? 60;
  const accountRate =
    options.accountRate ?? store.limiter({ name: 'signin_account', points: 0, windowSeconds: rateWindow });
  // always counting (a share needs the pair's count); it locks only with a threshold
  const pair = store.limiter({
    name: 'lock-pair',
    points: threshold > 0 ? threshold - 1 : 1_000_000,
    windowSeconds: lockoutSeconds,
    blockSeconds: threshold > 0 ? lockoutSeconds : 0,
    enabled: threshold > 0 || accountThreshold > 0,
  });
  const account = store.limiter({
    name: 'lock-account',
    points: Math.max(accountThreshold - 1, 0),
    windowSeconds: lockoutSeconds,
    blockSeconds: lockoutSeconds,
    enabled: accountThreshold > 0,
  });
  // a pair's failures in the current rate window, for its share of `accountRate`
  const pairRate = store.limiter({
    name: 'lock-pair-rate',
    points: 1_000_000,
    windowSeconds: rateWindow,
    enabled: accountRate.points > 0,
  });
  // outlives every pair counter: a counter lives at most a window plus a block
  const epochs = store.limiter({
    name: 'lock-epoch',
    points: 1_000_000,
    windowSeconds: Math.max(lockoutSeconds, rateWindow) * 4,
  });
  const lockShare = addressShare(accountThreshold);
  const rateShare = addressShare(accountRate.points);

  const pairKey = async (login: string, ip: string) => {
    const key = loginKey(login);
    // an IPv6 host counts by its /64: otherwise one host is countless addresses
    return `${key}:${(await epochs.peek(key)).count}:${addressKey(ip)}`;
  };
  const maxDelay = options.delayMs * 20;

  return {
    async check(login, ip, { knownDevice = false } = {}) {
      const key = loginKey(login);
      const [byPair, byAccount, byRate] = await Promise.all([
        pair.peek(await pairKey(login, ip)),
        account.peek(key),
        accountRate.peek(key),
      ]);
      if (threshold > 0 && byPair.count >= threshold) {
        return { locked: true, scope: 'account_ip', retryAfter: byPair.retryAfter };
      }
      if (!knownDevice && accountThreshold > 0 && byAccount.count >= accountThreshold) {
        return { locked: true, scope: 'account', retryAfter: byAccount.retryAfter };
      }
      if (!knownDevice && accountRate.points > 0 && byRate.count >= accountRate.points) {
        return { locked: true, scope: 'account_rate', retryAfter: byRate.retryAfter };
      }
      const failures = byPair.count;
      const delayMs = failures < 2 ? 0 : Math.min(options.delayMs * 2 ** (failures - 2), maxDelay);
      return { locked: false, delayMs };
    },

    async failed(login, ip) {
      const key = loginKey(login);
      const pk = await pairKey(login, ip);
      const [byPair, byPairRate] = await Promise.all([pair.hit(pk), pairRate.hit(pk)]);
      const [byAccount] = await Promise.all([
        accountThreshold > 0 && byPair.count <= lockShare ? account.hit(key) : undefined,
        accountRate.points > 0 && byPairRate.count <= rateShare ? accountRate.hit(key) : undefined,
      ]);
      // `count === threshold`: only the failure that crosses the line applies (and reports) the lock
      if (byAccount && byAccount.count === accountThreshold) {
        return { scope: 'account', failures: byAccount.count };
      }
      if (threshold > 0 && byPair.count === threshold) return { scope: 'account_ip', failures: byPair.count };
      return undefined;
    },

    async succeeded(login, ip) {
      const pk = await pairKey(login, ip);
      await Promise.all([pair.reset(pk), pairRate.reset(pk)]);
    },

    async unlock(logins) {
      await Promise.all(
        [...new Set(logins.map(loginKey))].map(async (key) => {
          await Promise.all([account.reset(key), accountRate.reset(key)]);
          await epochs.hit(key);
        }),
      );
    },
  };
}
