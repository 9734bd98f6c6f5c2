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

/** Events of some types counted per time bucket (and outcome), for charts. */
export interface EventHistogramQuery {
  since: Date;
  until: Date;
  /** the bucket width; buckets start at multiples of it since the Unix epoch */
  bucketSeconds: number;
  types: readonly string[];
}

export interface EventBucketCount {
  /** the start of the bucket */
  bucket: Date;
  type: string;
  outcome: string;
  count: number;
}

/** A detected surge and the limits and lockouts that hit the same address, client or account around it. */
export interface SurgeWithResponse {
  event: SecurityEventRecord;
  rateLimitTrips: number;
  lockouts: number;
}

export interface SecurityEventRepository {
  /** counts by bucket, type and outcome, in the database (never loads the events) */
  histogram(query: EventHistogramQuery): Promise<EventBucketCount[]>;
  /**
   * The `surge.detected` events of the range, newest first (at most `limit`), each with how many
   * `ratelimit.tripped` and `signin.locked` events for the same address, client or subject were
   * recorded from a minute before it to `followMinutes` after.
   */
  surges(query: { since: Date; until: Date; limit: number; followMinutes: number }): Promise<SurgeWithResponse[]>;
  insertMany(events: readonly NewSecurityEvent[]): Promise<void>;
  /** newest first: by time, then by id */
  list(filter: SecurityEventFilter): Promise<SecurityEventRecord[]>;
  /** @returns how many rows were removed */
  purgeOlderThan(cutoff: Date, batch: number): Promise<number>;
}
