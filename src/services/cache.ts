/**
 * A bounded in-memory map whose entries expire. Used on the token hot path so that a
 * token request costs no database round trip; every write path invalidates through the
 * CacheBus, and the expiry is only a safety net for a lost invalidation.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  readonly #ttlMs: number;
  readonly #max: number;

  constructor(options: { ttlMs: number; max: number }) {
    this.#ttlMs = options.ttlMs;
    this.#max = options.max;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= Date.now()) {
      this.#entries.delete(key);
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
    this.#entries.set(key, { value, expires: Date.now() + this.#ttlMs });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Loads through `load` on a miss; concurrent misses for one key share one load. */
  async getOrLoad(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    let pending = this.#loading.get(key);
    if (pending === undefined) {
      const generation = this.#generation;
      pending = load()
        .then((value) => {
          // an invalidation that arrived while loading wins over the value loaded before it
          if (generation === this.#generation && !this.#invalidatedWhileLoading.has(key)) this.set(key, value);
          return value;
        })
        .finally(() => {
          this.#loading.delete(key);
          this.#invalidatedWhileLoading.delete(key);
        });
      this.#loading.set(key, pending);
    }
    return pending;
  }

  /** Drops the entry and any load under way for it. */
  invalidate(key: string): void {
    this.#entries.delete(key);
    if (this.#loading.has(key)) this.#invalidatedWhileLoading.add(key);
  }

  invalidateAll(): void {
    this.#entries.clear();
    this.#generation++;
  }

  readonly #loading = new Map<string, Promise<V>>();
  readonly #invalidatedWhileLoading = new Set<string>();
  #generation = 0;
}

export type CacheTopic = 'client' | 'resource' | 'keys' | 'role' | 'user';

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
const TOPICS = new Set<string>(['client', 'resource', 'keys', 'role', 'user']);

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
 * to the whole topic, and everything when notifications may have been missed.
 */
export function followTopic(
  bus: CacheBus,
  topic: CacheTopic,
  cache: Pick<TtlCache<unknown>, 'invalidate' | 'invalidateAll'>,
): void {
  bus.subscribe((event) => {
    if (event === 'all' || (event.topic === topic && event.key === undefined)) cache.invalidateAll();
    else if (event.topic === topic && event.key !== undefined) cache.invalidate(event.key);
  });
}
