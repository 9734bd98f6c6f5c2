import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { OutboxItem, OutboxRepository } from './ports/outbox.ts';

/**
 * What a handler throws when trying again cannot help (a recipient the server refuses for good):
 * the row is dead at once instead of after every attempt.
 */
export class PermanentFailure extends Error {
  override name = 'PermanentFailure';
}

/** Does the work of one kind of row. Throwing schedules a retry (or the dead state). */
export interface OutboxHandler {
  handle(payload: unknown, item: { id: string; attempt: number }): Promise<void>;
  /** what stays of the payload once the row is done (sent or dead): never a secret */
  summary(payload: unknown): unknown;
}

export interface OutboxOptions {
  /** attempts before a row is dead (default 8: about 40 minutes of retries with the default backoff) */
  maxAttempts?: number;
  /** the first retry's delay; each further one doubles (default 5 s) */
  baseDelayMs?: number;
  /** no retry waits longer (default 15 min) */
  maxDelayMs?: number;
  /** how long a claimed row is held; must exceed the longest a handler may run (default 2 min) */
  leaseMs?: number;
  /** how often due rows are looked for when nothing wakes the worker (default 5 s) */
  pollMs?: number;
  /** rows claimed at a time (default 10) */
  batch?: number;
}

export interface Outbox {
  /** the handler of rows of `kind` (mail, webhooks, ...); one per kind */
  register(kind: string, handler: OutboxHandler): void;
  /**
   * Stores the row (durable from here: a restart, or another instance, does it) and wakes the
   * workers. @returns the row id
   */
  enqueue(kind: string, payload: unknown, options?: { maxAttempts?: number }): Promise<string>;
  /** starts the worker: it polls, and runs at once when `wake` is called (on enqueue, or on another instance's notice) */
  start(): void;
  /** runs the worker now (coalesced with a run under way) */
  wake(): void;
  /** one pass over the due rows; resolves when no due row is left (tests, and the worker itself) */
  drain(): Promise<number>;
  /** stops polling and waits for the pass under way */
  stop(): Promise<void>;
}

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): the n-th retry waits a random time up to base·2^(n-1), capped, and at least a
 * quarter of it so a burst of failures spreads without retrying at once.
 */
export function retryDelayMs(attempt: number, base: number, max: number, random = Math.random): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(ceiling / 4 + random() * ((ceiling * 3) / 4));
}

/**
 * The generic durable outbox: rows of a `kind` with a JSON payload, done by the handler
 * registered for the kind, at least once, retried with backoff, then dead. See
 * docs/decisions/0013-mail-outbox.md for why a row is never done twice in the normal course and
 * what the one remaining window is.
 */
export function createOutbox(deps: {
  repo: OutboxRepository;
  log: Logger;
  /** tells the other instances' workers that a row is waiting (PostgreSQL NOTIFY) */
  notify?: () => Promise<void>;
  options?: OutboxOptions;
}): Outbox {
  const { repo, log } = deps;
  const o = deps.options ?? {};
  const maxAttempts = o.maxAttempts ?? 8;
  const baseDelayMs = o.baseDelayMs ?? 5_000;
  const maxDelayMs = o.maxDelayMs ?? 15 * 60_000;
  const leaseMs = o.leaseMs ?? 120_000;
  const pollMs = o.pollMs ?? 5_000;
  const batch = o.batch ?? 10;
  const handlers = new Map<string, OutboxHandler>();

  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;

  const work = async (item: OutboxItem): Promise<void> => {
    const handler = handlers.get(item.kind);
    const summary = handler ? safeSummary(handler, item.payload) : {};
    try {
      if (!handler) throw new PermanentFailure(`no handler for outbox rows of kind ${item.kind}`);
      await handler.handle(item.payload, { id: item.id, attempt: item.attempts });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const permanent = err instanceof PermanentFailure || item.attempts >= item.maxAttempts;
      const retryAt = permanent
        ? undefined
        : new Date(Date.now() + retryDelayMs(item.attempts, baseDelayMs, maxDelayMs));
      const kept = await repo.markFailed(item.id, item.leaseId, message, retryAt, summary);
      if (permanent)
        log.error({ id: item.id, kind: item.kind, attempts: item.attempts, error: message }, 'outbox row dead');
      else
        log.warn(
          { id: item.id, kind: item.kind, attempt: item.attempts, retryAt, error: message },
          'outbox row failed; retrying later',
        );
      if (!kept) log.warn({ id: item.id }, 'outbox lease lost before the failure was recorded');
      return;
    }
    // Marked right after the handler succeeded. Should the process die between the two, the
    // lease runs out and the row is done again: the one window left (see the decision record)
    if (!(await repo.markSent(item.id, item.leaseId, summary))) {
      log.warn({ id: item.id, kind: item.kind }, 'outbox lease ran out while the row was being done');
    }
  };

  const pass = async (): Promise<number> => {
    let done = 0;
    for (;;) {
      if (stopped) return done;
      const items = await repo.claim(randomUUID(), batch, leaseMs);
      if (items.length === 0) return done;
      await Promise.all(items.map(work));
      done += items.length;
    }
  };

  /** wakes the worker when the next retry is due, rather than at the next poll */
  const scheduleRetry = async () => {
    const due = await repo.nextDue();
    if (!due || stopped) return;
    const wait = Math.max(0, due.getTime() - Date.now());
    if (wait >= pollMs) return;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(wake, wait + 5).unref();
  };

  const drain = (): Promise<number> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let total = 0;
      try {
        do {
          again = false;
          total += await pass();
        } while (again && !stopped);
        await scheduleRetry();
      } finally {
        running = undefined;
      }
      return total;
    })();
    return running;
  };

  const wake = () => {
    if (stopped || timer === undefined) return;
    drain().catch((err: unknown) => log.warn({ err }, 'outbox pass failed; the next poll tries again'));
  };

  return {
    register(kind, handler) {
      if (handlers.has(kind)) throw new Error(`an outbox handler for ${kind} is registered already`);
      handlers.set(kind, handler);
    },
    async enqueue(kind, payload, options = {}) {
      if (!handlers.has(kind)) throw new Error(`no outbox handler for ${kind}`);
      const id = randomUUID();
      await repo.insert({ id, kind, payload, maxAttempts: options.maxAttempts ?? maxAttempts });
      wake();
      await deps.notify?.().catch((err: unknown) => log.warn({ err }, 'outbox notice to other instances failed'));
      return id;
    },
    start() {
      if (timer || stopped) return;
      timer = setInterval(wake, pollMs).unref();
      wake();
    },
    wake,
    drain,
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(retryTimer);
      await running?.catch(() => {});
    },
  };
}

function safeSummary(handler: OutboxHandler, payload: unknown): unknown {
  try {
    return handler.summary(payload);
  } catch {
    return {};
  }
}
