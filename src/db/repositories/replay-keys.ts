import type { ReplayKeyRepository } from '../../services/ports/replay-keys.ts';
import type { PrismaClient } from '../generated/client.ts';

export function createReplayKeyRepository(prisma: PrismaClient): ReplayKeyRepository {
  return {
    async firstUse(key, expiresAt) {
      // one statement, so two instances given the same value at once cannot both win: the
      // primary key admits one row, and an expired row (not purged yet) is taken over
      const inserted = await prisma.$executeRawUnsafe(
        `INSERT INTO "replay_keys" ("key", "expires_at") VALUES ($1, $2::timestamptz)
         ON CONFLICT ("key") DO UPDATE SET "expires_at" = EXCLUDED."expires_at"
         WHERE "replay_keys"."expires_at" <= now()`,
        key,
        new Date(expiresAt * 1000).toISOString(),
      );
      return inserted === 1;
    },
    async expiryOf(key) {
      const rows = await prisma.$queryRawUnsafe<{ expiresAt: Date }[]>(
        `SELECT "expires_at" AS "expiresAt" FROM "replay_keys" WHERE "key" = $1 AND "expires_at" > now()`,
        key,
      );
      const expiresAt = rows[0]?.expiresAt;
      return expiresAt ? Math.floor(new Date(expiresAt).getTime() / 1000) : undefined;
    },
    async purgeExpired(now, batch) {
      return prisma.$executeRawUnsafe(
        `DELETE FROM "replay_keys" WHERE "key" IN
           (SELECT "key" FROM "replay_keys" WHERE "expires_at" <= $1::timestamptz LIMIT $2)`,
        now.toISOString(),
        batch,
      );
    },
  };
}
