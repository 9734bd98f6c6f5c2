export type Payload = Record<string, unknown>;

/** Storage for every oidc-provider model but Client: one JSONB table keyed by (model, id). */
export interface OidcPayloadRepository {
  upsert(model: string, id: string, payload: Payload, expiresIn: number | undefined): Promise<void>;
  /**
   * Rewrites a row that still exists (expired or not): false when it is gone, and then nothing is
   * written. `alsoRemove` names a model whose row of the same id goes in the same statement.
   */
  update(
    model: string,
    id: string,
    payload: Payload,
    expiresIn: number | undefined,
    alsoRemove?: string,
  ): Promise<boolean>;
  find(model: string, id: string): Promise<Payload | undefined>;
  findBy(model: string, field: 'uid' | 'userCode', value: string): Promise<Payload | undefined>;
  /**
   * A row (an authorization code) read in one statement with its grant (`grantId`) and its
   * session (`sessionUid`): what the code exchange reads next, each undefined when gone or expired.
   */
  findWithGrantAndSession(
    model: string,
    id: string,
  ): Promise<{ payload: Payload; grant: Payload | undefined; session: Payload | undefined } | undefined>;
  /** the ids of one model's live rows (not expired), with their expiry; for small models kept in memory */
  listLive(model: string): Promise<{ id: string; expiresAt: Date | null }[]>;
  consume(model: string, id: string): Promise<void>;
  /** marks a live, unconsumed row consumed; false when it was already consumed, expired or missing (atomic: one winner) */
  consumeOnce(model: string, id: string): Promise<boolean>;
  /**
   * Takes one of the uses counted in a live row's `remaining`; atomic, so parallel callers never
   * take more than there were. Returns what remains after, or undefined when none was left.
   */
  takeUse(model: string, id: string): Promise<number | undefined>;
  destroy(model: string, id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
  /** the clients of the account's live sessions, each with the `sid` it was given (back-channel logout) */
  sessionClientsOf(accountId: string): Promise<{ clientId: string; sid: string | null }[]>;
  /**
   * Removes every row of one account: its sessions, grants, and whatever was issued under those
   * grants or names the account (codes, access and refresh tokens, pending sign-in steps, and
   * interactions whose sign-in is done but not yet resumed).
   * @returns how many rows were removed
   */
  destroyByAccount(accountId: string): Promise<number>;
  /** @returns how many expired rows were removed */
  purgeExpired(now: Date, batch: number): Promise<number>;
}
