/** A row of the outbox as the worker sees it once claimed. */
export interface OutboxItem {
  readonly id: string;
  readonly kind: string;
  readonly payload: unknown;
  /** attempts so far, this one included */
  readonly attempts: number;
  readonly maxAttempts: number;
  /** the lease under which this worker holds it; every later write to the row names it */
  readonly leaseId: string;
}

export interface NewOutboxItem {
  id: string;
  kind: string;
  payload: unknown;
  maxAttempts: number;
  /** not before (default now) */
  availableAt?: Date;
}

export type OutboxStatus = 'pending' | 'sent' | 'dead';

/** What the admin and the tests can see of a row (never its payload). */
export interface OutboxRow {
  readonly id: string;
  readonly kind: string;
  readonly status: OutboxStatus;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly createdAt: Date;
  readonly doneAt: Date | null;
}

/**
 * The durable outbox (PostgreSQL, or the embedded database). Claiming is one statement with
 * `FOR UPDATE SKIP LOCKED`, so workers on several instances never take the same row; a claim is
 * a lease that ends at `availableAt`, after which another worker may take the row again (its
 * holder died). Every write after the claim names the lease, so a worker whose lease ran out
 * cannot overwrite what the next holder did.
 */
export interface OutboxRepository {
  insert(item: NewOutboxItem): Promise<void>;
  /** up to `limit` due rows, leased to `leaseId` for `leaseMs`; each claim counts as an attempt */
  claim(leaseId: string, limit: number, leaseMs: number): Promise<OutboxItem[]>;
  /** done: the payload is emptied (it may hold links with tokens); false when the lease was lost */
  markSent(id: string, leaseId: string, summary: unknown): Promise<boolean>;
  /** failed: pending again from `retryAt`, or dead with `summary` as its payload when `retryAt` is undefined */
  markFailed(id: string, leaseId: string, error: string, retryAt: Date | undefined, summary: unknown): Promise<boolean>;
  find(id: string): Promise<OutboxRow | undefined>;
  /** the earliest time a pending row becomes due, if any */
  nextDue(): Promise<Date | undefined>;
  /** removes sent and dead rows finished before `before` */
  purgeDone(before: Date, batch: number): Promise<number>;
}
