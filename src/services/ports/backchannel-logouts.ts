/** One client to tell that a session ended: who (subject), which session (sid), and how often it was tried. */
export interface BackchannelLogoutRecord {
  id: string;
  clientId: string;
  subject: string;
  sid: string | null;
  attempts: number;
  createdAt: Date;
}

export interface NewBackchannelLogout {
  clientId: string;
  subject: string;
  sid: string | null;
}

/**
 * The durable queue of back-channel logout deliveries. Several instances work it at once: a
 * claim hands each due delivery to one of them, for a lease; one not settled by then (the
 * instance stopped) is due again.
 */
export interface BackchannelLogoutRepository {
  enqueue(items: readonly NewBackchannelLogout[]): Promise<void>;
  /** up to `limit` deliveries due at `now`, each leased to the caller until `now + leaseMs` */
  claimDue(now: Date, limit: number, leaseMs: number): Promise<BackchannelLogoutRecord[]>;
  /** answered: removed */
  delivered(id: string): Promise<void>;
  /** not answered: tried again at `nextAttemptAt` */
  retryAt(id: string, attempts: number, nextAttemptAt: Date, error: string): Promise<void>;
  /** given up: kept (with `failed_at`) for the operator until purged */
  failed(id: string, attempts: number, error: string): Promise<void>;
  /** removes deliveries given up before `before`; @returns how many */
  purgeFailed(before: Date, batch: number): Promise<number>;
}
