import type { OidcPayloadRepository, Payload } from '../../services/ports/oidc-payloads.ts';
import type { Query } from '../database.ts';
import type { Prisma, PrismaClient } from '../generated/client.ts';

interface Row {
  payload: Prisma.JsonValue;
  expiresAt: Date | null;
  consumedAt: Date | null;
}

// A row past its expiry is gone for the provider even before the purge removes it.
function live(row: Row | null): Payload | undefined {
  if (!row || (row.expiresAt !== null && row.expiresAt.getTime() <= Date.now())) return undefined;
  const payload = row.payload as Payload;
  return row.consumedAt === null ? payload : { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) };
}

/** Raw rows may carry timestamps as strings, depending on the driver adapter. */
function normalize(row: Row | undefined): Row | null {
  if (!row) return null;
  const date = (v: unknown) => (v === null || v instanceof Date ? v : new Date(String(v)));
  const payload = typeof row.payload === 'string' ? (JSON.parse(row.payload) as Prisma.JsonValue) : row.payload;
  return { payload, expiresAt: date(row.expiresAt), consumedAt: date(row.consumedAt) };
}

/** $1 to $7 of a row's write: model, id, payload, the looked-up fields it carries, expiry. */
function rowValues(model: string, id: string, payload: Payload, expiresIn: number | undefined): unknown[] {
  return [
    model,
    id,
    JSON.stringify(payload),
    typeof payload.grantId === 'string' ? payload.grantId : null,
    typeof payload.uid === 'string' ? payload.uid : null,
    typeof payload.userCode === 'string' ? payload.userCode : null,
    expiresIn ? new Date(Date.now() + expiresIn * 1000).toISOString() : null,
  ];
}

export function createOidcPayloadRepository(prisma: PrismaClient, query: Query): OidcPayloadRepository {
  return {
    // upsert, find, consume and destroy run several times in every sign-in and code exchange:
    // plain SQL on the pool, one statement each, past Prisma (its query compiler and result
    // mapping cost more CPU per call than PostgreSQL spends on these statements)
    async upsert(model, id, payload, expiresIn) {
      await query(
        `INSERT INTO "oidc_payloads" ("model", "id", "payload", "grant_id", "uid", "user_code", "expires_at")
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7::timestamptz)
         ON CONFLICT ("model", "id") DO UPDATE SET "payload" = EXCLUDED."payload", "grant_id" = EXCLUDED."grant_id",
           "uid" = EXCLUDED."uid", "user_code" = EXCLUDED."user_code", "expires_at" = EXCLUDED."expires_at"`,
        rowValues(model, id, payload, expiresIn),
      );
    },
    async update(model, id, payload, expiresIn, alsoRemove) {
      // the removal's row is another than the update's: both apply, whatever the other finds
      const rows = await query(
        `WITH "removed" AS (DELETE FROM "oidc_payloads" WHERE "model" = $8 AND "id" = $2)
         UPDATE "oidc_payloads" SET "payload" = $3::jsonb, "grant_id" = $4, "uid" = $5, "user_code" = $6,
           "expires_at" = $7::timestamptz
         WHERE "model" = $1 AND "id" = $2 RETURNING 1 AS "updated"`,
        [...rowValues(model, id, payload, expiresIn), alsoRemove ?? null],
      );
      return rows.length > 0;
    },
    async find(model, id) {
      const rows = await query<Row & Record<string, unknown>>(
        `SELECT "payload", "expires_at" AS "expiresAt", "consumed_at" AS "consumedAt"
         FROM "oidc_payloads" WHERE "model" = $1 AND "id" = $2`,
        [model, id],
      );
      return live(normalize(rows[0]));
    },
    async findBy(model, field, value) {
      const column = field === 'uid' ? '"uid"' : '"user_code"';
      const rows = await query<Row & Record<string, unknown>>(
        `SELECT "payload", "expires_at" AS "expiresAt", "consumed_at" AS "consumedAt"
         FROM "oidc_payloads" WHERE "model" = $1 AND ${column} = $2 LIMIT 1`,
        [model, value],
      );
      return live(normalize(rows[0]));
    },
    async findWithGrantAndSession(model, id) {
      const rows = await query<Row & Record<string, unknown>>(
        `SELECT c."payload", c."expires_at" AS "expiresAt", c."consumed_at" AS "consumedAt",
                g."payload" AS "grantPayload", g."expires_at" AS "grantExpiresAt", g."consumed_at" AS "grantConsumedAt",
                s."payload" AS "sessionPayload", s."expires_at" AS "sessionExpiresAt", s."consumed_at" AS "sessionConsumedAt"
         FROM "oidc_payloads" c
         LEFT JOIN "oidc_payloads" g ON g."model" = 'Grant' AND g."id" = c."grant_id"
         LEFT JOIN LATERAL (
           SELECT "payload", "expires_at", "consumed_at" FROM "oidc_payloads"
           WHERE "model" = 'Session' AND "uid" = c."payload"->>'sessionUid' LIMIT 1
         ) s ON true
         WHERE c."model" = $1 AND c."id" = $2`,
        [model, id],
      );
      const row = rows[0];
      const payload = live(normalize(row));
      if (!row || !payload) return undefined;
      const related = (prefix: 'grant' | 'session') =>
        row[`${prefix}Payload`] === null || row[`${prefix}Payload`] === undefined
          ? undefined
          : live(
              normalize({
                payload: row[`${prefix}Payload`] as Prisma.JsonValue,
                expiresAt: row[`${prefix}ExpiresAt`] as Date | null,
                consumedAt: row[`${prefix}ConsumedAt`] as Date | null,
              }),
            );
      return { payload, grant: related('grant'), session: related('session') };
    },
    async listLive(model) {
      const rows = await prisma.$queryRawUnsafe<{ id: string; expiresAt: unknown }[]>(
        `SELECT "id", "expires_at" AS "expiresAt" FROM "oidc_payloads"
         WHERE "model" = $1 AND ("expires_at" IS NULL OR "expires_at" > now())`,
        model,
      );
      return rows.map((r) => ({
        id: r.id,
        expiresAt: r.expiresAt === null || r.expiresAt instanceof Date ? r.expiresAt : new Date(String(r.expiresAt)),
      }));
    },
    async consume(model, id) {
      await query(`UPDATE "oidc_payloads" SET "consumed_at" = now() WHERE "model" = $1 AND "id" = $2`, [model, id]);
    },
    async consumeOnce(model, id) {
      const now = new Date();
      const { count } = await prisma.oidcPayload.updateMany({
        where: { model, id, consumedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
        data: { consumedAt: now },
      });
      return count === 1;
    },
    async takeUse(model, id) {
      // one statement: PostgreSQL re-checks the WHERE of a row another transaction just changed
      const rows = await prisma.$queryRawUnsafe<{ remaining: unknown }[]>(
        `UPDATE "oidc_payloads"
         SET "payload" = jsonb_set("payload", '{remaining}', to_jsonb(("payload"->>'remaining')::int - 1))
         WHERE "model" = $1 AND "id" = $2 AND "consumed_at" IS NULL
           AND ("expires_at" IS NULL OR "expires_at" > now()) AND ("payload"->>'remaining')::int > 0
         RETURNING ("payload"->>'remaining')::int AS "remaining"`,
        model,
        id,
      );
      return rows[0] === undefined ? undefined : Number(rows[0].remaining);
    },
    async destroy(model, id) {
      await query(`DELETE FROM "oidc_payloads" WHERE "model" = $1 AND "id" = $2`, [model, id]);
    },
    async revokeByGrantId(grantId) {
      await prisma.oidcPayload.deleteMany({ where: { grantId } });
    },
    async sessionClientsOf(accountId) {
      // each live session's clients, with the session id each was given (`sid`)
      return prisma.$queryRawUnsafe<{ clientId: string; sid: string | null }[]>(
        `SELECT a."key" AS "clientId", a."value"->>'sid' AS "sid"
         FROM "oidc_payloads" p,
              jsonb_each(CASE WHEN jsonb_typeof(p."payload"->'authorizations') = 'object'
                              THEN p."payload"->'authorizations' ELSE '{}'::jsonb END) a
         WHERE p."model" = 'Session' AND p."payload"->>'accountId' = $1
           AND (p."expires_at" IS NULL OR p."expires_at" > now())`,
        accountId,
      );
    },
    async destroyByAccount(accountId) {
      // one statement: the grants' ids are read in it, so nothing issued meanwhile slips between.
      // Interactions too: one whose sign-in step is done carries the login in `result` (or its
      // session in `session`) until the browser comes back to /auth/{uid}; left alone, a password
      // checked before the change would still open a new session after it.
      return prisma.$executeRawUnsafe(
        `DELETE FROM "oidc_payloads"
         WHERE "payload"->>'accountId' = $1
            OR "grant_id" IN (SELECT "id" FROM "oidc_payloads" WHERE "model" = 'Grant' AND "payload"->>'accountId' = $1)
            OR ("model" = 'Interaction'
                AND ("payload"#>>'{result,login,accountId}' = $1
                  OR "payload"#>>'{lastSubmission,login,accountId}' = $1
                  OR "payload"#>>'{session,accountId}' = $1))`,
        accountId,
      );
    },
    async purgeExpired(now, batch) {
      const rows = await prisma.oidcPayload.findMany({
        where: { expiresAt: { lte: now } },
        select: { model: true, id: true },
        take: batch,
      });
      if (rows.length === 0) return 0;
      const { count } = await prisma.oidcPayload.deleteMany({
        where: { OR: rows.map(({ model, id }) => ({ model, id })) },
      });
      return count;
    },
  };
}
