import type { GrantRecord, UserSessionRecord, UserSessionRepository } from '../../services/ports/user-sessions.ts';
import type { Query } from '../database.ts';
import type { PrismaClient } from '../generated/client.ts';

/** Raw rows may carry timestamps as strings and JSONB as text, depending on the driver adapter. */
const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const json = (v: unknown): Record<string, unknown> =>
  (typeof v === 'string' ? JSON.parse(v) : v) as Record<string, unknown>;

/** A live Session row of the user whose `uid` is the session's id (the `uid` index finds it). */
const LIVE_SESSION = `"model" = 'Session' AND "payload"->>'accountId' = $1
  AND ("expires_at" IS NULL OR "expires_at" > now())`;

/** The grant ids a Session payload holds: `authorizations: { <clientId>: { grantId, sid, ... } }`. */
const GRANTS_OF_SESSION = `SELECT a.value->>'grantId' AS "id"
  FROM s, jsonb_each(CASE WHEN jsonb_typeof(s."payload"->'authorizations') = 'object'
                          THEN s."payload"->'authorizations' ELSE '{}'::jsonb END) a
  WHERE a.value->>'grantId' IS NOT NULL`;

function scopesOf(payload: Record<string, unknown>): string[] {
  const scopes = new Set<string>();
  const add = (value: unknown) => {
    if (typeof value === 'string') for (const s of value.split(' ')) if (s) scopes.add(s);
  };
  add((payload.openid as { scope?: unknown } | undefined)?.scope);
  const resources = payload.resources;
  if (resources && typeof resources === 'object') for (const value of Object.values(resources)) add(value);
  return [...scopes];
}

export function createUserSessionRepository(prisma: PrismaClient, query: Query): UserSessionRepository {
  return {
    async seen(session, minIntervalSeconds) {
      // a session signed in as another user starts over: new owner, new start time
      // plain SQL on the pool, past Prisma: this runs on every sign-in
      await query(
        `INSERT INTO "user_sessions" ("id", "user_id", "ip", "user_agent", "created_at", "last_seen_at")
         VALUES ($1, $2, $3, $4, now(), now())
         ON CONFLICT ("id") DO UPDATE SET
           "user_id" = EXCLUDED."user_id", "ip" = EXCLUDED."ip", "user_agent" = EXCLUDED."user_agent",
           "last_seen_at" = EXCLUDED."last_seen_at",
           "created_at" = CASE WHEN "user_sessions"."user_id" = EXCLUDED."user_id"
                               THEN "user_sessions"."created_at" ELSE EXCLUDED."created_at" END
         WHERE "user_sessions"."user_id" <> EXCLUDED."user_id"
            OR "user_sessions"."last_seen_at" < now() - make_interval(secs => $5::int)`,
        [session.id, session.userId, session.ip ?? null, session.userAgent ?? null, minIntervalSeconds],
      );
    },

    async listLive(userId) {
      const rows = await prisma.$queryRawUnsafe<Record<string, unknown>[]>(
        `SELECT us."id", us."user_id" AS "userId", us."ip", us."user_agent" AS "userAgent",
                us."created_at" AS "createdAt", us."last_seen_at" AS "lastSeenAt"
         FROM "user_sessions" us
         WHERE us."user_id" = $1
           AND EXISTS (SELECT 1 FROM "oidc_payloads" WHERE "uid" = us."id" AND ${LIVE_SESSION})
         ORDER BY us."last_seen_at" DESC, us."id"
         LIMIT 500`,
        userId,
      );
      return rows.map(
        (r): UserSessionRecord => ({
          id: String(r.id),
          userId: String(r.userId),
          ip: r.ip === null ? null : String(r.ip),
          userAgent: r.userAgent === null ? null : String(r.userAgent),
          createdAt: date(r.createdAt),
          lastSeenAt: date(r.lastSeenAt),
        }),
      );
    },

    async endOne(userId, sessionId) {
      // One statement: the session, its grants, what they issued, and our row of it. Each DELETE
      // has its own condition, so each can use its index (the primary key, grant_id).
      const rows = await prisma.$queryRawUnsafe<{ sessions: unknown; removed: unknown }[]>(
        `WITH s AS (
           SELECT "id", "payload" FROM "oidc_payloads" WHERE "uid" = $2 AND ${LIVE_SESSION}
         ), g AS (
           SELECT "id" FROM "oidc_payloads"
           WHERE "model" = 'Grant' AND "payload"->>'accountId' = $1 AND "id" IN (${GRANTS_OF_SESSION})
         ), gone_session AS (
           DELETE FROM "oidc_payloads" WHERE "model" = 'Session' AND "id" IN (SELECT "id" FROM s) RETURNING 1
         ), gone_grants AS (
           DELETE FROM "oidc_payloads" WHERE "model" = 'Grant' AND "id" IN (SELECT "id" FROM g) RETURNING 1
         ), gone_issued AS (
           DELETE FROM "oidc_payloads" WHERE "grant_id" IN (SELECT "id" FROM g) RETURNING 1
         ), gone_row AS (
           DELETE FROM "user_sessions" WHERE "id" = $2 AND "user_id" = $1 RETURNING 1
         )
         SELECT (SELECT count(*) FROM s)::int AS "sessions",
                ((SELECT count(*) FROM gone_session) + (SELECT count(*) FROM gone_grants)
                  + (SELECT count(*) FROM gone_issued))::int AS "removed"`,
        userId,
        sessionId,
      );
      const row = rows[0];
      return row && Number(row.sessions) > 0 ? Number(row.removed) : undefined;
    },

    async endAllBut(userId, keepSessionId) {
      // Like destroyByAccount of the payload repository, but the kept session keeps its Session
      // row, its grants and their tokens, and its step-up proof. The grants' ids are read in the
      // same statement, so nothing issued meanwhile slips between.
      const rows = await prisma.$queryRawUnsafe<{ removed: unknown }[]>(
        `WITH s AS (
           SELECT "payload" FROM "oidc_payloads" WHERE "uid" = $2 AND ${LIVE_SESSION}
         ), kept AS (${GRANTS_OF_SESSION}
         ), grants AS (
           SELECT "id" FROM "oidc_payloads"
           WHERE "model" = 'Grant' AND "payload"->>'accountId' = $1 AND "id" NOT IN (SELECT "id" FROM kept)
         ), gone_grants AS (
           DELETE FROM "oidc_payloads" WHERE "model" = 'Grant' AND "id" IN (SELECT "id" FROM grants) RETURNING 1
         ), gone_issued AS (
           DELETE FROM "oidc_payloads" WHERE "grant_id" IN (SELECT "id" FROM grants) RETURNING 1
         ), gone_rest AS (
           DELETE FROM "oidc_payloads"
           WHERE "model" <> 'Grant'
             AND NOT ("model" = 'Session' AND "uid" = $2)
             AND NOT ("model" = 'AccountStepUp' AND "id" = $2)
             AND ("grant_id" IS NULL
                  OR ("grant_id" NOT IN (SELECT "id" FROM kept) AND "grant_id" NOT IN (SELECT "id" FROM grants)))
             AND ("payload"->>'accountId' = $1
                  OR ("model" = 'Interaction' AND COALESCE("payload"#>>'{session,uid}', '') <> $2
                      AND ("payload"#>>'{result,login,accountId}' = $1
                        OR "payload"#>>'{lastSubmission,login,accountId}' = $1
                        OR "payload"#>>'{session,accountId}' = $1)))
           RETURNING 1
         ), gone_rows AS (
           DELETE FROM "user_sessions" WHERE "user_id" = $1 AND "id" <> $2 RETURNING 1
         )
         SELECT ((SELECT count(*) FROM gone_grants) + (SELECT count(*) FROM gone_issued)
                 + (SELECT count(*) FROM gone_rest))::int AS "removed"`,
        userId,
        keepSessionId,
      );
      return Number(rows[0]?.removed ?? 0);
    },

    async grants(userId) {
      const rows = await prisma.$queryRawUnsafe<{ id: unknown; payload: unknown }[]>(
        `SELECT "id", "payload" FROM "oidc_payloads"
         WHERE "model" = 'Grant' AND "payload"->>'accountId' = $1
           AND ("expires_at" IS NULL OR "expires_at" > now())
         LIMIT 1000`,
        userId,
      );
      return rows.flatMap((r): GrantRecord[] => {
        const payload = json(r.payload);
        if (typeof payload.clientId !== 'string') return [];
        return [
          {
            id: String(r.id),
            clientId: payload.clientId,
            scopes: scopesOf(payload),
            issuedAt: typeof payload.iat === 'number' ? payload.iat : 0,
          },
        ];
      });
    },

    async revokeGrants(userId, clientId) {
      const rows = await prisma.$queryRawUnsafe<{ grants: unknown }[]>(
        `WITH g AS (
           SELECT "id" FROM "oidc_payloads"
           WHERE "model" = 'Grant' AND "payload"->>'accountId' = $1 AND "payload"->>'clientId' = $2
         ), gone_issued AS (
           DELETE FROM "oidc_payloads" WHERE "grant_id" IN (SELECT "id" FROM g) RETURNING 1
         ), gone AS (
           DELETE FROM "oidc_payloads" WHERE "model" = 'Grant' AND "id" IN (SELECT "id" FROM g) RETURNING 1
         )
         SELECT (SELECT count(*) FROM gone)::int AS "grants"`,
        userId,
        clientId,
      );
      return Number(rows[0]?.grants ?? 0);
    },

    async purgeEnded(batch) {
      return prisma.$executeRawUnsafe(
        `DELETE FROM "user_sessions" WHERE "id" IN (
           SELECT us."id" FROM "user_sessions" us
           WHERE us."last_seen_at" < now() - interval '5 minutes'
             AND NOT EXISTS (SELECT 1 FROM "oidc_payloads" WHERE "uid" = us."id" AND ${LIVE_SESSION.replace('$1', 'us."user_id"')})
           LIMIT $1)`,
        batch,
      );
    },
  };
}
