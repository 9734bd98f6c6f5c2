import { isDatabaseUnavailable } from './availability.ts';

/**
 * How long after an entry was last read from the database it may still be served when the
 * database cannot be reached (RFC 5861's stale-if-error, applied in memory): clients, APIs and
 * roles already known keep working through an outage or a failover of up to this long
 * (docs/scaling.md, "During a database outage").
 */
export const STALE_IF_ERROR_MS = 5 * 60_000;

/** While serving stale, the database is asked again at most this often per entry. */
const RETRY_WHILE_STALE_MS = 1000;

interface Entry<V> {
  value: V;
  /** fresh until then: served without asking the database */
  expires: number;
  /** servable until then when the database is unavailable */
  staleUntil: number;
}

/**
 * A bounded in-memory map whose entries expire. Used on the token hot path so that a
 * token request costs no database round trip; every write path invalidates through the
 * CacheBus, and the expiry is only a safety net for a lost invalidation.
 *
 * Static stability: an entry that expired, or was marked stale because notifications may have
 * been missed, is kept for `staleIfErrorMs` after its last load. `getOrLoad` serves it when the
 * reload fails because the database is unavailable (never for another error, and never after
 * `invalidate`, which a known change calls).
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #staleMs: number;

  constructor(options: { ttlMs: number; max: number; staleIfErrorMs?: number }) {
    this.#ttlMs = options.ttlMs;
    this.#max = options.max;
    this.#staleMs = Math.max(options.staleIfErrorMs ?? 0, options.ttlMs);
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const now = Date.now();
    if (entry.expires <= now) {
      if (entry.staleUntil <= now) this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) {
      // Map keeps insertion order: the first key is the oldest
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    const now = Date.now();
    this.#entries.set(key, { value, expires: now + this.#ttlMs, staleUntil: now + this.#staleMs });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /**
   * Loads through `load` on a miss; concurrent misses for one key share one load. When the load
   * fails because the database is unavailable and a stale entry is within its bound, the stale
   * value is served (and the database asked again at most once a second for this key).
   * A hit, the usual case on the token and introspection paths, answers without an async frame.
   */
  getOrLoad(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    return hit !== undefined ? Promise.resolve(hit) : this.#loadOnce(key, load);
  }

  async #loadOnce(key: string, load: () => Promise<V>): Promise<V> {
    let pending = this.#loading.get(key);
    if (pending === undefined) {
      const generation = this.#generation;
      pending = load()
        .then(
          (value) => {
            // an invalidation that arrived while loading wins over the value loaded before it
            if (generation === this.#generation && !this.#invalidatedWhileLoading.has(key)) this.set(key, value);
            return value;
          },
          (err: unknown) => {
            const stale = this.#entries.get(key);
            if (!stale || stale.staleUntil <= Date.now() || !isDatabaseUnavailable(err)) throw err;
            stale.expires = Math.min(Date.now() + RETRY_WHILE_STALE_MS, stale.staleUntil);
            return stale.value;
          },
        )
        .finally(() => {
          this.#loading.delete(key);
          this.#invalidatedWhileLoading.delete(key);
        });
      this.#loading.set(key, pending);
    }
    return pending;
  }

  /** Drops the entry and any load under way for it: it changed. */
  invalidate(key: string): void {
    this.#entries.delete(key);
    if (this.#loading.has(key)) this.#invalidatedWhileLoading.add(key);
  }

  /** Drops every entry: they all changed. */
  invalidateAll(): void {
    this.#entries.clear();
    this.#generation++;
  }

  /**
   * Notifications may have been missed (the connection that carries them was lost, often because
   * the database went away): every entry is read again before it is served, but kept for
   * `getOrLoad` to fall back on while the database stays unavailable.
   */
  markAllStale(): void {
    const now = Date.now();
    for (const entry of this.#entries.values()) entry.expires = Math.min(entry.expires, now);
    this.#generation++;
  }

  readonly #loading = new Map<string, Promise<V>>();
  readonly #invalidatedWhileLoading = new Set<string>();
  #generation = 0;
}

/** `revoked_token`: an access token revoked; its key is `<exp> <jti>` (see revocations.ts) */
export type CacheTopic = 'client' | 'resource' | 'keys' | 'role' | 'user' | 'revoked_token' | 'federation';

export interface CacheEvent {
  topic: CacheTopic;
  /** the entry that changed; undefined for the whole topic */
  key?: string | undefined;
}

/**
 * Tells every instance sharing the database that cached data changed
 * (PostgreSQL NOTIFY; in-process for the embedded database).
 */
export interface CacheBus {
  publish(event: CacheEvent): Promise<void>;
  subscribe(handler: (event: CacheEvent | 'all') => void): void;
}

export const CACHE_CHANNEL = 'idp_cache';
const TOPICS = new Set<string>(['client', 'resource', 'keys', 'role', 'user', 'revoked_token', 'federation']);

export function createCacheBus(transport: {
  listen(channel: string, onMessage: (payload: string) => void, onGap: () => void): Promise<void>;
  notify(channel: string, payload: string): Promise<void>;
}): CacheBus & { start(): Promise<void> } {
  const handlers: ((event: CacheEvent | 'all') => void)[] = [];
  const deliver = (event: CacheEvent | 'all') => {
    for (const handler of handlers) handler(event);
  };
  return {
    async start() {
      await transport.listen(
        CACHE_CHANNEL,
        (payload) => {
          try {
            const event = JSON.parse(payload) as CacheEvent;
            if (TOPICS.has(event.topic)) deliver(event);
          } catch {
            deliver('all');
          }
        },
        () => deliver('all'),
      );
    },
    async publish(event) {
      // the writer's own caches change at once; others follow on the notification
      deliver(event);
      await transport.notify(CACHE_CHANNEL, JSON.stringify(event));
    },
    subscribe(handler) {
      handlers.push(handler);
    },
  };
}

/**
 * Keeps `cache` right for one topic: drops the entry a change names, everything for a change
 * to the whole topic, and marks everything stale when notifications may have been missed.
 */
export function followTopic(
  bus: CacheBus,
  topic: CacheTopic,
  cache: Pick<TtlCache<unknown>, 'invalidate' | 'invalidateAll' | 'markAllStale'>,
): void {
  bus.subscribe((event) => {
    if (event === 'all') cache.markAllStale();
    else if (event.topic === topic && event.key === undefined) cache.invalidateAll();
    else if (event.topic === topic && event.key !== undefined) cache.invalidate(event.key);
  });
}
