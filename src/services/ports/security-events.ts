/** One row of the security event log. */
export interface SecurityEventRecord {
  id: string;
  type: string;
  occurredAt: Date;
  actor: string | null;
  subject: string | null;
  clientId: string | null;
  ip: string | null;
  userAgent: string | null;
  outcome: string;
  details: Record<string, unknown>;
}

export type NewSecurityEvent = Omit<SecurityEventRecord, 'id'>;

export interface SecurityEventFilter {
  /** an exact type, or a prefix ending in `.*` (`client.*`) */
  type?: string | undefined;
  subject?: string | undefined;
  clientId?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** the position after which to continue (newest first) */
  before?: { occurredAt: Date; id: string } | undefined;
  limit: number;
}

export interface SecurityEventRepository {
  /**
   * Stores the events and, in the same statement, queues a delivery for every webhook that
   * matches one (outbox rows of kind `webhook`). @returns how many deliveries were queued
   */
  insertMany(events: readonly NewSecurityEvent[]): Promise<number>;
  /** newest first: by time, then by id */
  list(filter: SecurityEventFilter): Promise<SecurityEventRecord[]>;
  /** @returns how many rows were removed */
  purgeOlderThan(cutoff: Date, batch: number): Promise<number>;
}
