import { createHash } from 'node:crypto';
import { normalizeUsername } from './accounts.ts';
import type { RateLimitStore } from './rate-limits.ts';

export type LockScope = 'account_ip' | 'account';

export type Gate =
  | { locked: false /** wait this long before answering (progressive delay) */; delayMs: number }
  | { locked: true; scope: LockScope; retryAfter: number };

export interface BruteForceProtection {
  /** before the password is checked: refuse while locked, else say how long to hold the answer */
  check(login: string, ip: string): Promise<Gate>;
  /** after a failure; returns the lock this failure applied, if any */
  failed(login: string, ip: string): Promise<{ scope: LockScope; failures: number } | undefined>;
  /** after a success: the pair's failures are forgiven (the account-wide count is not) */
  succeeded(login: string, ip: string): Promise<void>;
  /** lifts every lock on these login names (username, email): the account-wide one and those per address */
  unlock(logins: readonly string[]): Promise<void>;
}

export interface BruteForceOptions {
  store: RateLimitStore;
  /** failures of one login from one address before that pair is locked; 0: never */
  threshold: number;
  /** failures of one login from all addresses before it is locked everywhere; 0: never */
  accountThreshold: number;
  /** the lock's length and the window failures are counted in */
  lockoutSeconds: number;
  /** the first delay (after the second failure); doubles with each further one, up to 20 times it */
  delayMs: number;
}

/**
 * Brute-force protection for password sign-in (docs/decisions/0006-brute-force-lockout.md).
 *
 * Keyed by the login name as typed (normalized), never by whether an account exists, so an
 * unknown name is delayed and locked exactly like a real one and the lock tells nothing
 * (DESIGN §6). Names are hashed before they reach the counter store.
 *
 * - per login and address: a progressive delay from the second failure, then a lock after
 *   `threshold` failures. This stops one attacker guessing one account.
 * - per login from anywhere: a lock after `accountThreshold` failures, set much higher, so a
 *   distributed guess is stopped too, while one attacker cannot cheaply lock the real user out
 *   everywhere.
 * - unlock: the account-wide counter is deleted; the per-address counters are orphaned by
 *   bumping the login's epoch, which is part of their keys (so no store needs to list keys).
 */
export function createBruteForceProtection(options: BruteForceOptions): BruteForceProtection {
  const { store, threshold, accountThreshold, lockoutSeconds } = options;
  const pair = store.limiter({
    name: 'lock-pair',
    points: Math.max(threshold - 1, 0),
    windowSeconds: lockoutSeconds,
    blockSeconds: lockoutSeconds,
    enabled: threshold > 0,
  });
  const account = store.limiter({
    name: 'lock-account',
    points: Math.max(accountThreshold - 1, 0),
    windowSeconds: lockoutSeconds,
    blockSeconds: lockoutSeconds,
    enabled: accountThreshold > 0,
  });
  // outlives every pair counter: a counter lives at most a window plus a block
  const epochs = store.limiter({ name: 'lock-epoch', points: 1_000_000, windowSeconds: lockoutSeconds * 4 });

  const id = (login: string) => createHash('sha256').update(normalizeUsername(login.trim())).digest('base64url');
  const pairKey = async (login: string, ip: string) => {
    const key = id(login);
    return `${key}:${(await epochs.peek(key)).count}:${ip}`;
  };
  const maxDelay = options.delayMs * 20;

  return {
    async check(login, ip) {
      const [byPair, byAccount] = await Promise.all([pair.peek(await pairKey(login, ip)), account.peek(id(login))]);
      if (threshold > 0 && byPair.count >= threshold) {
        return { locked: true, scope: 'account_ip', retryAfter: byPair.retryAfter };
      }
      if (accountThreshold > 0 && byAccount.count >= accountThreshold) {
        return { locked: true, scope: 'account', retryAfter: byAccount.retryAfter };
      }
      const failures = byPair.count;
      const delayMs = failures < 2 ? 0 : Math.min(options.delayMs * 2 ** (failures - 2), maxDelay);
      return { locked: false, delayMs };
    },

    async failed(login, ip) {
      const [byPair, byAccount] = await Promise.all([pair.hit(await pairKey(login, ip)), account.hit(id(login))]);
      // `count === threshold`: only the failure that crosses the line applies (and reports) the lock
      if (accountThreshold > 0 && byAccount.count === accountThreshold) {
        return { scope: 'account', failures: byAccount.count };
      }
      if (threshold > 0 && byPair.count === threshold) return { scope: 'account_ip', failures: byPair.count };
      return undefined;
    },

    async succeeded(login, ip) {
      await pair.reset(await pairKey(login, ip));
    },

    async unlock(logins) {
      await Promise.all(
        [...new Set(logins.map(id))].map(async (key) => {
          await account.reset(key);
          await epochs.hit(key);
        }),
      );
    },
  };
}
