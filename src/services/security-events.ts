import type { Logger } from '../logger.ts';
import type { Metrics } from './metrics.ts';
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
  | 'user.unlocked'
  | 'passkey.removed'
  | 'key.rotated'
  // an initial access token lets whoever holds it register a client (RFC 7591 §3)
  | 'initial_access_token.created';

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
  /** queues the event and returns at once: the request never waits for the database */
  record(event: SecurityEventInput): void;
  list(filter: SecurityEventFilter): Promise<SecurityEventRecord[]>;
  /** writes everything queued (tests, shutdown) */
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
}

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
 * The security event log: events queue in memory and are written in batches every
 * `flushIntervalMs` (or when a batch fills), so the token endpoint's hot path never waits for a
 * database write. Trade-off: a crash loses at most one interval of events; a clean shutdown
 * (`close`) writes them all.
 *
 * Identical events waiting in the queue (same type, actor, subject, client, address, user agent,
 * outcome and details: a service fetching tokens in a loop) are stored once, with
 * `details.count`. One row per token would make the log's writes grow with token traffic;
 * this way they grow with the number of distinct callers, and nothing that tells events
 * apart is lost (the time is that of the first).
 */
export function createSecurityEventService(options: SecurityEventOptions): SecurityEventService {
  const { repo, log, metrics } = options;
  const interval = options.flushIntervalMs ?? 250;
  const batchSize = options.batchSize ?? 200;
  const maxQueue = options.maxQueue ?? 10_000;
  let queue: NewSecurityEvent[] = [];
  /** events still in the queue, by what they say, so that a repeat only counts */
  let pending = new Map<string, { event: NewSecurityEvent; count: number }>();
  let writing: Promise<void> | undefined;
  let closed = false;

  const writeBatch = async (batch: NewSecurityEvent[]) => {
    try {
      await repo.insertMany(batch);
    } catch (err) {
      // retried once with the next batch if there is room; a database that stays down costs events, not memory
      log.warn({ err, events: batch.length }, 'writing security events failed');
      if (!closed && queue.length + batch.length <= maxQueue) queue = batch.concat(queue);
      else metrics?.eventsDropped.inc(batch.length);
      throw err;
    }
  };

  /** Writes one batch at a time; `all` keeps going until the queue is empty. */
  const drain = (all: boolean): Promise<void> => {
    if (writing) return all ? writing.then(() => drain(true)) : writing;
    if (queue.length === 0) return Promise.resolve();
    const batch = queue.splice(0, batchSize);
    // what left the queue can no longer be counted into (the rest could, but simpler is safer)
    pending = new Map();
    metrics?.eventQueue.set(queue.length);
    writing = writeBatch(batch)
      .catch(() => {
        all = false;
      })
      .finally(() => {
        writing = undefined;
        metrics?.eventQueue.set(queue.length);
      })
      .then(() => (all || queue.length >= batchSize ? drain(all) : undefined));
    return writing;
  };

  const timer = setInterval(() => void drain(false), interval);
  timer.unref();

  return {
    record(event) {
      metrics?.events.inc({ type: event.type });
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
      if (queue.length >= maxQueue) {
        metrics?.eventsDropped.inc();
        return;
      }
      queue.push(row);
      pending.set(key, { event: row, count: 1 });
      metrics?.eventQueue.set(queue.length);
      if (queue.length >= batchSize && !writing) void drain(false);
    },
    list: (filter) => repo.list(filter),
    flush: () => drain(true),
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
