import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../logger.ts';
import { REDIS_OPTIONS, type RedisHealth, redisHealth } from './redis-fallback.ts';

/** The answer of a limiter: allowed or not, and when to come back. */
export interface Verdict {
  allowed: boolean;
  /** hits counted in the current window (after this one, for `hit`) */
  count: number;
  /** seconds until the window (or the block) ends; for Retry-After */
  retryAfter: number;
}

/** A counter over a fixed window, shared by every instance when Redis is configured. */
export interface Limiter {
  readonly name: string;
  readonly points: number;
  /** counts `weight` hits for `key`; not allowed once the count passes `points` */
  hit(key: string, weight?: number): Promise<Verdict>;
  /** the current state without counting */
  peek(key: string): Promise<Verdict>;
  reset(key: string): Promise<void>;
  /** takes back `weight` hits counted by `hit` (a request that turned out not to be the key's own) */
  refund(key: string, weight?: number): Promise<void>;
}

export interface LimiterSpec {
  name: string;
  /** hits allowed per window; 0 turns the limit off */
  points: number;
  windowSeconds: number;
  /** once over, refuse for this long (default: the rest of the window) */
  blockSeconds?: number;
  /** default: `points > 0` */
  enabled?: boolean;
}

export interface RateLimitStore {
  readonly kind: 'memory' | 'redis';
  limiter(spec: LimiterSpec): Limiter;
  close(): Promise<void>;
}

const ALLOW: Verdict = { allowed: true, count: 0, retryAfter: 0 };

const verdict = (res: RateLimiterRes, points: number): Verdict => ({
  allowed: res.consumedPoints <= points,
  count: res.consumedPoints,
  retryAfter: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
});

/**
 * Rate-limit counters (rate-limiter-flexible): in memory for one instance, in Redis when
 * REDIS_URL is set so that several instances share them. Keys are prefixed with a hash of the
 * issuer: instances of one deployment share counters, other deployments on the same Redis do not.
 * When Redis is unreachable or slow each instance falls back to its own memory counters
 * (redis-fallback.ts) instead of failing or holding the requests it guards.
 */
export async function createRateLimitStore(options: {
  redisUrl: string | undefined;
  issuer: string;
  log: Logger;
}): Promise<RateLimitStore> {
  const { log } = options;
  const namespace = `idp:${createHash('sha256').update(options.issuer).digest('hex').slice(0, 12)}`;
  let redis: Redis | undefined;
  let health: RedisHealth | undefined;
  if (options.redisUrl) {
    // loaded only when configured: a single instance does not carry the Redis client in memory
    const { Redis } = await import('ioredis');
    redis = new Redis(options.redisUrl, REDIS_OPTIONS);
    const h = redisHealth(redis, log);
    redis.on('error', (err: Error) => h.failed(err));
    health = h;
  }

  return {
    kind: redis ? 'redis' : 'memory',
    limiter(spec) {
      const base = {
        keyPrefix: `${namespace}:${spec.name}`,
        points: spec.points,
        duration: spec.windowSeconds,
        blockDuration: spec.blockSeconds ?? 0,
      };
      const memory = new RateLimiterMemory(base);
      const shared = redis
        ? new RateLimiterRedis({ ...base, storeClient: redis, rejectIfRedisNotReady: true })
        : undefined;
      // Redis while it answers, this instance's memory while it does not (see redis-fallback.ts)
      const store = {
        async consume(key: string, weight: number) {
          if (shared && health?.usable()) {
            try {
              return await shared.consume(key, weight);
            } catch (err) {
              if (err instanceof RateLimiterRes) throw err;
              health.failed(err);
            }
          }
          return memory.consume(key, weight);
        },
        async get(key: string) {
          if (shared && health?.usable()) {
            try {
              return await shared.get(key);
            } catch (err) {
              health.failed(err);
            }
          }
          return memory.get(key);
        },
        async reward(key: string, weight: number) {
          if (shared && health?.usable()) {
            try {
              await shared.reward(key, weight);
              return;
            } catch (err) {
              health.failed(err);
            }
          }
          await memory.reward(key, weight);
        },
        delete: (key: string) => (shared ? shared.delete(key) : memory.delete(key)),
      };
      const off = !(spec.enabled ?? spec.points > 0);
      return {
        name: spec.name,
        points: spec.points,
        async hit(key, weight = 1) {
          if (off) return ALLOW;
          try {
            return verdict(await store.consume(key, weight), spec.points);
          } catch (err) {
            if (err instanceof RateLimiterRes) return verdict(err, spec.points);
            // neither Redis nor the fallback answered: let the request through rather than fail it
            log.warn({ err, limiter: spec.name }, 'rate limiter failed; request allowed');
            return ALLOW;
          }
        },
        async peek(key) {
          if (off) return ALLOW;
          try {
            const res = await store.get(key);
            if (!res) return ALLOW;
            // a block set by blockDuration shows as consumed points above the limit
            return { ...verdict(res, spec.points), allowed: res.consumedPoints < spec.points || res.msBeforeNext <= 0 };
          } catch (err) {
            log.warn({ err, limiter: spec.name }, 'rate limiter failed; request allowed');
            return ALLOW;
          }
        },
        async reset(key) {
          await Promise.allSettled([store.delete(key), memory.delete(key)]);
        },
        async refund(key, weight = 1) {
          if (off) return;
          await store.reward(key, weight).catch((err: unknown) => {
            log.warn({ err, limiter: spec.name }, 'rate limiter refund failed');
          });
        },
      };
    },
    async close() {
      if (!redis) return;
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}
