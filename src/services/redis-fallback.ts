import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from '../logger.ts';

/**
 * Every Redis command is bounded in time: a Redis that hangs (a stopped process, a saturated
 * host, a half-open connection) must not hold the requests it guards. ioredis waits forever for
 * an answer on an open connection unless `commandTimeout` is set, and queues commands while
 * reconnecting unless the offline queue is off.
 */
export const REDIS_OPTIONS = {
  commandTimeout: 250,
  connectTimeout: 1000,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  // reconnect soon, but not in a tight loop
  retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
} satisfies RedisOptions;

/** How long to stay on the in-memory fallback after a Redis command failed before trying Redis again. */
const COOLDOWN_MS = 1000;

/**
 * Whether to use Redis now. After a failure (a timeout included) every limiter uses its memory
 * fallback for a second, so a hanging Redis costs one bounded wait per second, not one per
 * command; then one command tries Redis again, and when it answers everyone is back on Redis.
 */
export interface RedisHealth {
  usable(): boolean;
  failed(err: unknown): void;
}

export function redisHealth(redis: Redis, log: Logger, now: () => number = Date.now): RedisHealth {
  let downUntil = 0;
  let down = false;
  redis.on('ready', () => {
    if (down) log.info('redis answers again; rate limits are shared again');
    down = false;
    downUntil = 0;
  });
  return {
    usable: () => redis.status === 'ready' && now() >= downUntil,
    failed(err) {
      if (!down) {
        log.warn(
          { err: { message: err instanceof Error ? err.message : String(err) } },
          'redis unavailable; rate limits fall back to memory',
        );
      }
      down = true;
      downUntil = now() + COOLDOWN_MS;
    },
  };
}
