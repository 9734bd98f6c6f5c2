/** A live browser session of a user (its oidc-provider Session exists and has not expired). */
export interface UserSessionRecord {
  /** oidc-provider's Session `uid` (stable for the session's life; never the cookie value) */
  id: string;
  userId: string;
  ip: string | null;
  userAgent: string | null;
  createdAt: Date;
  lastSeenAt: Date;
}

/** One grant (an application's consent in one session, or offline), as stored by oidc-provider. */
export interface GrantRecord {
  id: string;
  clientId: string;
  /** the OpenID scopes and each API's scopes this grant holds */
  scopes: string[];
  /** epoch seconds */
  issuedAt: number;
}

/**
 * The sessions people and admins see, next to oidc-provider's own rows: `user_sessions` keeps
 * when and from where, the Session payload in `oidc_payloads` decides whether it is live.
 */
export interface UserSessionRepository {
  /**
   * Records that the session was seen now: creates its row (for a new session, or a session now
   * signed in as another user) or moves `lastSeenAt`, address and user agent forward when the
   * last sighting is older than `minIntervalSeconds`. One statement.
   */
  seen(
    session: { id: string; userId: string; ip: string | undefined; userAgent: string | undefined },
    minIntervalSeconds: number,
  ): Promise<void>;
  /** the user's live sessions, most recently seen first */
  listLive(userId: string): Promise<UserSessionRecord[]>;
  /**
   * Ends one session of this user: its Session row, the grants it holds and whatever was issued
   * under them (codes, access and refresh tokens, `offline_access` included).
   * @returns how many rows were removed, or undefined when the user has no such live session
   */
  endOne(userId: string, sessionId: string): Promise<number | undefined>;
  /**
   * Ends every session of the user but `keepSessionId`, as `endOne` does for each, and every
   * grant (and what it issued) not held by the kept session; unfinished sign-ins too.
   * @returns how many rows were removed
   */
  endAllBut(userId: string, keepSessionId: string): Promise<number>;
  /** the user's live grants */
  grants(userId: string): Promise<GrantRecord[]>;
  /**
   * Revokes every grant of this user to this client and whatever was issued under them.
   * @returns how many grants were revoked (0: none)
   */
  revokeGrants(userId: string, clientId: string): Promise<number>;
  /** removes the rows of sessions that ended (signed out, expired); @returns how many */
  purgeEnded(batch: number): Promise<number>;
}
