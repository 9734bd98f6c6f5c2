import type { Logger } from '../logger.ts';
import type { CacheBus } from './cache.ts';
import type { OidcPayloadRepository } from './ports/oidc-payloads.ts';

/** The oidc-provider model name under which revoked access tokens are stored, keyed by `jti`. */
export const REVOKED_ACCESS_TOKEN = 'RevokedAccessToken';

/**
 * The revoked access tokens that have not expired yet, answered from memory: introspection and
 * the admin API's bearer check of a live JWT cost no database round trip.
 *
 * Every instance holds the whole list. It is read from the database at start (so it is right
 * after a restart), kept up to date by the cache bus (a revocation is announced with NOTIFY
 * after it is stored; the revoking instance hears it at once, the others within the bus's
 * latency), and read again whenever notifications may have been missed. Until a read has
 * completed, and while the list would pass `max` entries, every question goes to the database:
 * the memory answers "not revoked" only when it is known to be complete.
 */
export interface Revocations {
  /** whether the token `jti` (expiring at `exp`, epoch seconds) was revoked */
  isRevoked(jti: string, exp: number): Promise<boolean>;
  /** stores the revocation until `exp`, then announces it to every instance */
  revoke(jti: string, exp: number, clientId: string): Promise<void>;
}

/** A notification's key: `<exp> <jti>` (jti from a token this server signed: no spaces in it). */
const keyOf = (jti: string, exp: number) => `${exp} ${jti}`;

export function createRevocations(deps: {
  payloads: Pick<OidcPayloadRepository, 'find' | 'upsert' | 'listLive'>;
  bus: CacheBus;
  log: Logger;
  /** entries held at most; past it, the database answers (default 200,000, about 30 MB) */
  max?: number;
  now?: () => number;
}): Revocations {
  const { payloads, bus, log } = deps;
  const max = deps.max ?? 200_000;
  const now = deps.now ?? Date.now;
  /** jti -> expiry, epoch seconds */
  const revoked = new Map<string, number>();
  let complete = false;
  let overflow = false;
  let generation = 0;
  let sweepAt = 1024;

  const add = (jti: string, exp: number) => {
    if (exp * 1000 <= now()) return;
    if (revoked.size >= sweepAt) {
      const seconds = now() / 1000;
      for (const [id, until] of revoked) if (until <= seconds) revoked.delete(id);
      sweepAt = Math.max(1024, revoked.size * 2);
    }
    if (revoked.size >= max) {
      // too many to hold: the database answers from now on (until a reload finds fewer)
      overflow = true;
      return;
    }
    revoked.set(jti, exp);
  };

  const load = () => {
    const mine = ++generation;
    complete = false;
    payloads.listLive(REVOKED_ACCESS_TOKEN).then(
      (rows) => {
        // merged, never replaced: a revocation heard while the read ran stays
        overflow = false;
        for (const row of rows) add(row.id, row.expiresAt ? Math.floor(row.expiresAt.getTime() / 1000) : 2 ** 31);
        if (mine === generation) complete = true;
      },
      (err: unknown) => {
        // the database answers every question until the next read (the bus asks again when it reconnects)
        log.warn({ err }, 'could not read the revoked access tokens; introspection asks the database');
      },
    );
  };

  bus.subscribe((event) => {
    if (event === 'all') return load();
    if (event.topic !== 'revoked_token' || event.key === undefined) return;
    const space = event.key.indexOf(' ');
    const exp = Number(event.key.slice(0, space));
    if (space > 0 && Number.isSafeInteger(exp)) add(event.key.slice(space + 1), exp);
    // a key in no known shape: the list may miss something, read it again
    else load();
  });
  load();

  return {
    async isRevoked(jti, exp) {
      if (revoked.has(jti)) return true;
      // a token past its expiry is refused for that before it is asked about
      if ((complete && !overflow) || exp * 1000 <= now()) return false;
      return (await payloads.find(REVOKED_ACCESS_TOKEN, jti)) !== undefined;
    },
    async revoke(jti, exp, clientId) {
      const remaining = exp - Math.floor(now() / 1000);
      if (remaining <= 0) return;
      await payloads.upsert(REVOKED_ACCESS_TOKEN, jti, { jti, clientId }, remaining);
      // this instance's list changes at once (publish delivers here first), the others' on NOTIFY
      await bus.publish({ topic: 'revoked_token', key: keyOf(jti, exp) });
    },
  };
}
