import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '../logger.ts';
import { isDatabaseUnavailable } from './availability.ts';
import { children, type Metrics } from './metrics.ts';
import type {
  NewSecurityEvent,
  SecurityEventFilter,
  SecurityEventRecord,
  SecurityEventRepository,
} from './ports/security-events.ts';

/**
 * The event types of changes made through the admin API. Each admin route that changes
 * something declares its type next to its scope (`requireScope('users:write', { event: 'user.updated' })`).
 */
export type AdminChangeEvent =
  | `${'client' | 'resource' | 'user' | 'role'}.${'created' | 'updated' | 'deleted'}`
  | 'client.secret_rotated'
  | 'client.secret_added'
  | 'client.secret_removed'
  | `federated_issuer.${'created' | 'updated' | 'deleted'}`
  | 'user.unlocked'
  | 'passkey.removed'
  // an admin removed a user's authenticator app and recovery codes
  | 'mfa.reset'
  | 'session.revoked'
  | 'key.rotated'
  // an admin mailed a user a password reset link
  | 'password.reset_requested'
  // an initial access token lets whoever holds it register a client (RFC 7591 §3)
  | 'initial_access_token.created';

/**
 * The events of people's second factors (src/services/second-factors.ts). Like every event they
 * never hold a secret or a code: counts and reasons only.
 */
export type SecondFactorEvent =
  | 'mfa.totp_added'
  | 'mfa.totp_removed'
  | 'mfa.recovery_codes_generated'
  | 'mfa.recovery_code_used';

/** What a caller records; the time is taken now and `outcome` defaults to success. */
export interface SecurityEventInput {
  type: string;
  outcome?: 'success' | 'failure';
  actor?: string | undefined;
  subject?: string | undefined;
  clientId?: string | undefined;
  ip?: string | undefined;
  userAgent?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

export interface SecurityEventService {
  /**
   * Records the event. A high-volume type (`batched`) is queued and written with the next batch;
   * any other type is written at once, and a request running under `durably` is answered only
   * once it is stored. Never throws: a database that cannot take it sends it to the queue.
   */
  record(event: SecurityEventInput): void;
  /**
   * Runs `fn` (a request) and then waits until the events it recorded that are not batched
   * are stored (or, the database being unavailable, queued): an answered request's admin change,
   * sign-in or lockout survives a crash of the process.
   */
  durably<T>(fn: () => Promise<T>): Promise<T>;
  /** the request being answered (under `durably`) waits for `work` too: it records an event once done */
  beforeAnswer(work: Promise<unknown>): void;
  list(filter: SecurityEventFilter): Promise<SecurityEventRecord[]>;
  /** counts per time bucket, type and outcome (charts) */
  histogram: SecurityEventRepository['histogram'];
  /** detected surges with the limits and lockouts around them */
  surges: SecurityEventRepository['surges'];
  /** writes everything queued and waits for the writes under way (tests, shutdown) */
  flush(): Promise<void>;
  /** removes events older than the retention */
  purge(now?: Date): Promise<number>;
  /** stops the timer and writes what is left */
  close(): Promise<void>;
}

export interface SecurityEventOptions {
  repo: SecurityEventRepository;
  log: Logger;
  metrics?: Metrics | undefined;
  retentionDays: number;
  /** how often the queue is written (ms) */
  flushIntervalMs?: number;
  /** a batch this large is written at once, without waiting for the timer */
  batchSize?: number;
  /** the queue's bound: past it new events are dropped (and counted), memory stays bounded */
  maxQueue?: number;
  /** which types are queued and written in batches; default `HIGH_VOLUME_TYPES` */
  batched?: (type: string) => boolean;
}

/**
 * The types written in batches (every `flushIntervalMs`): one per token a service fetches, or
 * per refused request of a caller over its limits, so writing each on its own would make the
 * database's writes grow with token traffic (or with an attack). A crash loses the last
 * fraction of a second of them. Every other type (admin changes, sign-ins, lockouts, changes
 * to people's accounts, revocations) is stored before the request that caused it is answered.
 */
const HIGH_VOLUME_TYPES: ReadonlySet<string> = new Set([
  'token.issued',
  'token.refreshed',
  'token.exchanged',
  'token.exchange_refused',
  'ratelimit.tripped',
  'client.auth_failed',
]);

/**
 * Detail keys that could carry a secret. Values under them are never stored, whatever a caller
 * passes: passwords, secrets, tokens, codes, hashes, assertions, cookies.
 */
const SECRET_KEY = /pass|secret|token|code|hash|assertion|cookie|authorization|credential|key|verifier/i;
const MAX_TEXT = 256;

const text = (value: string | undefined, max = MAX_TEXT) =>
  value === undefined || value === '' ? null : value.length > max ? `${value.slice(0, max)}…` : value;

/** Keeps only short, non-secret values: strings, numbers, booleans and arrays of them, one level deep. */
export function sanitizeDetails(details: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details).slice(0, 20)) {
    if (SECRET_KEY.test(key) || value === undefined) continue;
    if (typeof value === 'string') out[key] = text(value);
    else if (typeof value === 'number' || typeof value === 'boolean' || value === null) out[key] = value;
    else if (Array.isArray(value)) {
      out[key] = value
        .filter((v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
        .slice(0, 50)
        .map((v) => (typeof v === 'string' ? text(v, 128) : v));
    }
  }
  return out;
}

/**
 * The security event log, in two durability classes:
 * - high-volume types (`HIGH_VOLUME_TYPES`) queue in memory and are written in batches every
 *   `flushIntervalMs` (or when a batch fills), so the token endpoint's hot path never waits for
 *   a database write. A crash loses at most one interval of them; a clean shutdown (`close`)
 *   writes them all. Identical events waiting in the queue (same type, actor, subject, client,
 *   address, user agent, outcome and details: a service fetching tokens in a loop) are stored
 *   once, with `details.count`: the log's writes grow with the number of distinct callers, and
 *   nothing that tells events apart is lost (the time is that of the first).
 * - every other type is inserted at once, and `durably` holds the request's answer until it is
 *   stored.
 *
 * The database unavailable (an outage, a failover), events of both classes wait in the queue and
 * are written when it returns; so the requests that are still served (tokens for known clients)
 * do not fail or wait for it. The queue is bounded by `maxQueue`: past it new events are dropped
 * and counted (`idp_security_events_dropped_total`), and the process's memory stays bounded.
 */
export function createSecurityEventService(options: SecurityEventOptions): SecurityEventService {
  const { repo, log, metrics } = options;
  const counted = metrics ? children((type) => metrics.events.labels({ type })) : undefined;
  const interval = options.flushIntervalMs ?? 250;
  const batchSize = options.batchSize ?? 200;
  const maxQueue = options.maxQueue ?? 10_000;
  const batched = options.batched ?? ((type: string) => HIGH_VOLUME_TYPES.has(type));
  let queue: NewSecurityEvent[] = [];
  /** events still in the queue, by what they say, so that a repeat only counts */
  let pending = new Map<string, { event: NewSecurityEvent; count: number }>();
  let writing: Promise<void> | undefined;
  let closed = false;
  /** the last write found the database unavailable: events go to the queue until a batch is written */
  let unavailable = false;
  /** inserts of single events under way, for `flush` and `close` to wait for */
  const inserting = new Set<Promise<void>>();
  /** the writes of the request being answered (see `durably`) */
  const request = new AsyncLocalStorage<Promise<void>[]>();

  const failed = (err: unknown, events: number) => {
    if (!isDatabaseUnavailable(err)) log.warn({ err, events }, 'writing security events failed');
    else if (!unavailable) log.warn({ err, events }, 'database unavailable: security events wait in memory');
    if (isDatabaseUnavailable(err)) unavailable = true;
  };
  const succeeded = () => {
    if (!unavailable) return;
    unavailable = false;
    log.info({ waiting: queue.length }, 'database available again: writing the security events that waited');
  };

  /** Into the queue; false when it is full (the event is dropped and counted). */
  const enqueue = (row: NewSecurityEvent): boolean => {
    if (queue.length >= maxQueue) {
      metrics?.eventsDropped.inc();
      return false;
    }
    queue.push(row);
    metrics?.eventQueue.set(queue.length);
    return true;
  };

  const writeBatch = async (batch: NewSecurityEvent[]) => {
    try {
      await repo.insertMany(batch);
      succeeded();
    } catch (err) {
      // kept for the next try if there is room; a database that stays down costs events, not memory
      failed(err, batch.length);
      if (!closed && queue.length + batch.length <= maxQueue) queue = batch.concat(queue);
      else metrics?.eventsDropped.inc(batch.length);
      throw err;
    }
  };

  /** Writes one batch at a time; `all` keeps going until the queue is empty. A failure waits for the timer. */
  const drain = (all: boolean): Promise<void> => {
    if (writing) return all ? writing.then(() => drain(true)) : writing;
    if (queue.length === 0) return Promise.resolve();
    const batch = queue.splice(0, batchSize);
    // what left the queue can no longer be counted into (the rest could, but simpler is safer)
    pending = new Map();
    metrics?.eventQueue.set(queue.length);
    writing = writeBatch(batch)
      .then(
        () => true,
        () => false,
      )
      .finally(() => {
        writing = undefined;
        metrics?.eventQueue.set(queue.length);
      })
      .then((written) => (written && (all || queue.length >= batchSize) ? drain(all) : undefined));
    return writing;
  };

  /** Stores one event now; the database unavailable, it waits in the queue. Never rejects. */
  const insert = (row: NewSecurityEvent): Promise<void> => {
    if (unavailable || closed) {
      enqueue(row);
      return Promise.resolve();
    }
    const write: Promise<void> = repo
      .insertMany([row])
      .then(succeeded, (err: unknown) => {
        failed(err, 1);
        enqueue(row);
      })
      .finally(() => inserting.delete(write));
    inserting.add(write);
    return write;
  };

  const timer = setInterval(() => void drain(false), interval);
  timer.unref();

  return {
    record(event) {
      counted?.(event.type).inc();
      const row: NewSecurityEvent = {
        type: event.type,
        occurredAt: new Date(),
        outcome: event.outcome ?? 'success',
        actor: text(event.actor),
        subject: text(event.subject),
        clientId: text(event.clientId),
        ip: text(event.ip, 64),
        userAgent: text(event.userAgent, 512),
        details: sanitizeDetails(event.details),
      };
      if (!batched(row.type)) {
        const write = insert(row);
        request.getStore()?.push(write);
        return;
      }
      const key = JSON.stringify([
        row.type,
        row.outcome,
        row.actor,
        row.subject,
        row.clientId,
        row.ip,
        row.userAgent,
        row.details,
      ]);
      const same = pending.get(key);
      if (same) {
        same.count += 1;
        same.event.details.count = same.count;
        return;
      }
      if (!enqueue(row)) return;
      pending.set(key, { event: row, count: 1 });
      if (queue.length >= batchSize && !writing) void drain(false);
    },
    durably(fn) {
      const writes: Promise<void>[] = [];
      return request.run(writes, async () => {
        try {
          return await fn();
        } finally {
          // a write may still be added while we wait (an event recorded once a lookup is done)
          while (writes.length > 0) await Promise.all(writes.splice(0));
        }
      });
    },
    beforeAnswer(work) {
      // its failure is the work's own to handle; here it only ends the wait
      const done = work.then(
        () => {},
        () => {},
      );
      request.getStore()?.push(done);
    },
    list: (filter) => repo.list(filter),
    histogram: (query) => repo.histogram(query),
    surges: (query) => repo.surges(query),
    async flush() {
      await Promise.all(inserting);
      await drain(true);
    },
    async purge(now = new Date()) {
      const cutoff = new Date(now.getTime() - options.retentionDays * 86_400_000);
      let removed = 0;
      for (let batch = await repo.purgeOlderThan(cutoff, 1000); batch > 0; ) {
        removed += batch;
        batch = batch === 1000 ? await repo.purgeOlderThan(cutoff, 1000) : 0;
      }
      return removed;
    },
    async close() {
      clearInterval(timer);
      await Promise.all(inserting);
      await drain(true);
      closed = true;
      if (queue.length > 0) {
        log.warn({ events: queue.length }, 'security events lost at shutdown: the database refused them');
        metrics?.eventsDropped.inc(queue.length);
        queue = [];
      }
    },
  };
}
