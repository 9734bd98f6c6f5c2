import { randomUUID } from 'node:crypto';
import type { BackchannelLogoutRecord, BackchannelLogoutRepository } from '../../services/ports/backchannel-logouts.ts';
import type { PrismaClient } from '../generated/client.ts';

/** Errors kept for the operator are cut to this length (a remote answer's text is its choice). */
const MAX_ERROR_LENGTH = 500;

export function createBackchannelLogoutRepository(prisma: PrismaClient): BackchannelLogoutRepository {
  return {
    async enqueue(items) {
      if (items.length === 0) return;
      await prisma.backchannelLogout.createMany({
        data: items.map((item) => ({
          id: randomUUID(),
          clientId: item.clientId,
          subject: item.subject,
          sid: item.sid,
        })),
      });
    },
    async claimDue(now, limit, leaseMs) {
      // one statement: the rows are locked as they are picked (SKIP LOCKED leaves another
      // instance's picks to it) and leased before the lock is let go
      return prisma.$queryRawUnsafe<BackchannelLogoutRecord[]>(
        `UPDATE "backchannel_logouts" SET "next_attempt_at" = $2::timestamptz
         WHERE "id" IN (
           SELECT "id" FROM "backchannel_logouts"
           WHERE "failed_at" IS NULL AND "next_attempt_at" <= $1::timestamptz
           ORDER BY "next_attempt_at" LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING "id", "client_id" AS "clientId", "subject", "sid", "attempts", "created_at" AS "createdAt"`,
        now.toISOString(),
        new Date(now.getTime() + leaseMs).toISOString(),
        limit,
      );
    },
    async delivered(id) {
      await prisma.backchannelLogout.deleteMany({ where: { id } });
    },
    async retryAt(id, attempts, nextAttemptAt, error) {
      await prisma.backchannelLogout.updateMany({
        where: { id },
        data: { attempts, nextAttemptAt, lastError: error.slice(0, MAX_ERROR_LENGTH) },
      });
    },
    async failed(id, attempts, error) {
      await prisma.backchannelLogout.updateMany({
        where: { id },
        data: { attempts, failedAt: new Date(), lastError: error.slice(0, MAX_ERROR_LENGTH) },
      });
    },
    async purgeFailed(before, batch) {
      return prisma.$executeRawUnsafe(
        `DELETE FROM "backchannel_logouts" WHERE "id" IN
           (SELECT "id" FROM "backchannel_logouts" WHERE "failed_at" <= $1::timestamptz LIMIT $2)`,
        before.toISOString(),
        batch,
      );
    },
  };
}
