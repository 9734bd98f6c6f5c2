import type { Logger } from '../logger.ts';
import type { AccountService, SessionEndReason } from './accounts.ts';
import { ACCOUNT_CLIENT_ID } from './authentication-policy.ts';
import { TtlCache } from './cache.ts';
import type { ClientService } from './clients.ts';
import type { UserSessionRecord, UserSessionRepository } from './ports/user-sessions.ts';
import type { SecurityEventInput } from './security-events.ts';
import { describeUserAgent } from './user-agent.ts';

/**
 * How often a session's `lastSeenAt` is written at most: a sighting within this many seconds of
 * the last one written costs nothing (this instance remembers it), and the database refuses a
 * second write within it from another instance.
 */
const LAST_SEEN_SECONDS = 60;

/** Who ends a session or an application's access: the person on /account, or an admin (the admin API's audit records that). */
export interface SessionActor {
  by: 'self' | 'admin';
  ip?: string | undefined;
  userAgent?: string | undefined;
}

export interface SessionInfo extends UserSessionRecord {
  /** a short name of the browser and system ("Firefox on Windows") */
  device: string;
}

export interface ConnectedApplication {
  clientId: string;
  name: string;
  scopes: string[];
  /** the first time the application was authorized among the grants still live */
  since: Date;
}

/** The sessions people see and end, and the applications (grants) they revoke. */
export interface SessionService {
  /**
   * A signed-in session was seen (saved by the provider, or visiting /account). Written at most
   * once per `LAST_SEEN_SECONDS`; a failure is logged, never thrown: bookkeeping must not cost a sign-in.
   */
  seen(session: { id: string; userId: string; ip: string | undefined; userAgent: string | undefined }): Promise<void>;
  /** the user's live sessions, most recently seen first */
  list(userId: string): Promise<SessionInfo[]>;
  /**
   * Ends one session of this user: the browser with it is signed out, and the refresh tokens
   * issued in it (`offline_access` included) stop working.
   * @returns false when the user has no such live session (another user's session is not theirs)
   */
  end(userId: string, sessionId: string, who: SessionActor): Promise<boolean>;
  /**
   * Ends every session of the user but `keepSessionId`, with their grants and tokens, and the
   * user's access tokens issued until now (they are JWTs: no one session's can be told apart).
   * @returns how many stored sessions, grants and tokens were removed
   */
  endOthers(userId: string, keepSessionId: string, reason: SessionEndReason, who: SessionActor): Promise<number>;
  /**
   * Ends every session and refresh token of the user, and their access tokens: what a password
   * reset, a disabled account or an admin's "sign out everywhere" needs.
   * @returns how many stored sessions, grants and tokens were removed
   */
  endAll(userId: string, reason: SessionEndReason, who?: SessionActor): Promise<number>;
  /** the applications the user authorized (their grants), this server's own account page aside */
  applications(userId: string): Promise<ConnectedApplication[]>;
  /**
   * Revokes the user's grants to this application and everything issued under them; the
   * application asks for consent again next time.
   * @returns false when the user had authorized no such application
   */
  revokeApplication(userId: string, clientId: string, who: SessionActor): Promise<boolean>;
  /** removes the records of sessions that ended; @returns how many */
  purge(batch: number): Promise<number>;
}

export function createSessionService(deps: {
  repo: UserSessionRepository;
  accounts: Pick<AccountService, 'endSessions' | 'endAccessTokens'>;
  clients: Pick<ClientService, 'resolve'>;
  events: { record(event: SecurityEventInput): void };
  log: Logger;
}): SessionService {
  const { repo, accounts, clients, events, log } = deps;
  // sessions written within the interval, per instance: most sightings cost no query at all
  const recent = new TtlCache<string>({ ttlMs: LAST_SEEN_SECONDS * 1000, max: 50_000 });

  const record = (
    type: string,
    userId: string,
    who: SessionActor,
    details: Record<string, unknown>,
    clientId?: string,
  ) => {
    // an admin's change is recorded by the admin API's audit, naming the admin
    if (who.by === 'admin') return;
    events.record({
      type,
      subject: userId,
      actor: userId,
      clientId,
      ip: who.ip,
      userAgent: who.userAgent,
      details: { by: who.by, ...details },
    });
  };

  return {
    async seen(session) {
      if (recent.get(session.id) === session.userId) return;
      try {
        await repo.seen(session, LAST_SEEN_SECONDS);
        recent.set(session.id, session.userId);
      } catch (err) {
        log.warn({ err, userId: session.userId }, 'recording a session sighting failed');
      }
    },

    async list(userId) {
      return (await repo.listLive(userId)).map((s) => ({ ...s, device: describeUserAgent(s.userAgent) }));
    },

    async end(userId, sessionId, who) {
      const removed = await repo.endOne(userId, sessionId);
      if (removed === undefined) return false;
      recent.delete(sessionId);
      log.info({ userId, by: who.by, removed }, 'session ended');
      record('session.revoked', userId, who, { reason: 'user', scope: 'one', session_id: sessionId, removed });
      return true;
    },

    async endOthers(userId, keepSessionId, reason, who) {
      await accounts.endAccessTokens(userId);
      const removed = await repo.endAllBut(userId, keepSessionId);
      log.info({ userId, reason, by: who.by, removed }, 'other sessions ended');
      record('session.revoked', userId, who, { reason, scope: 'others', removed });
      return removed;
    },

    async endAll(userId, reason, who) {
      // the account service's, which also ends the sessions of a disabled or deleted account
      return accounts.endSessions(userId, reason, who?.by === 'self' ? userId : undefined, {
        record: who?.by !== 'admin',
      });
    },

    async applications(userId) {
      const byClient = new Map<string, { scopes: Set<string>; since: number }>();
      for (const grant of await repo.grants(userId)) {
        if (grant.clientId === ACCOUNT_CLIENT_ID) continue;
        const entry = byClient.get(grant.clientId) ?? { scopes: new Set<string>(), since: grant.issuedAt };
        for (const scope of grant.scopes) entry.scopes.add(scope);
        entry.since = Math.min(entry.since, grant.issuedAt);
        byClient.set(grant.clientId, entry);
      }
      const apps: ConnectedApplication[] = [];
      for (const [clientId, entry] of byClient) {
        // a deleted application's grants are dead already: not shown
        const client = await clients.resolve(clientId);
        if (!client) continue;
        const name = client.providerMetadata.client_name;
        apps.push({
          clientId,
          name: typeof name === 'string' && name.trim() !== '' ? name : clientId,
          scopes: [...entry.scopes].sort(),
          since: new Date(entry.since * 1000),
        });
      }
      return apps.sort((a, b) => a.name.localeCompare(b.name));
    },

    async revokeApplication(userId, clientId, who) {
      if (clientId === ACCOUNT_CLIENT_ID) return false;
      const grants = await repo.revokeGrants(userId, clientId);
      if (grants === 0) return false;
      log.info({ userId, clientId, grants }, 'application access revoked');
      record('consent.revoked', userId, who, { grants }, clientId);
      return true;
    },

    purge: (batch) => repo.purgeEnded(batch),
  };
}
