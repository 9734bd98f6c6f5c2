import type { OutboxItem, OutboxRepository, OutboxRow, OutboxStatus } from '../../services/ports/outbox.ts';
import type { PrismaClient } from '../generated/client.ts';

interface ClaimedRow {
  id: string;
  kind: string;
  payload: unknown;
  attempts: number;
  max_attempts: number;
}

const MAX_ERROR = 500;

export function createOutboxRepository(prisma: PrismaClient): OutboxRepository {
  return {
    async insert(item) {
      await prisma.outboxItem.create({
        data: {
          id: item.id,
          kind: item.kind,
          payload: item.payload as object,
          maxAttempts: item.maxAttempts,
          ...(item.availableAt ? { availableAt: item.availableAt } : {}),
        },
      });
    },

    async claim(leaseId, limit, leaseMs) {
      // One statement: the inner SELECT locks the due rows it picks and skips those another
      // worker has locked at this moment, the UPDATE leases them (available_at moves to the end
      // of the lease) and commits: the lock is held for this statement only, the lease after it.
      const rows = await prisma.$queryRawUnsafe<ClaimedRow[]>(
        `UPDATE "outbox" SET
           "attempts" = "attempts" + 1,
           "lease_id" = $1,
           "available_at" = now() + ($3::int * interval '1 millisecond')
         WHERE "id" IN (
           SELECT "id" FROM "outbox"
           WHERE "status" = 'pending' AND "available_at" <= now()
           ORDER BY "available_at"
           LIMIT $2
           FOR UPDATE SKIP LOCKED)
         RETURNING "id", "kind", "payload", "attempts", "max_attempts"`,
        leaseId,
        limit,
        leaseMs,
      );
      return rows.map(
        (r): OutboxItem => ({
          id: r.id,
          kind: r.kind,
          payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload,
          attempts: Number(r.attempts),
          maxAttempts: Number(r.max_attempts),
          leaseId,
        }),
      );
    },

    async markSent(id, leaseId, summary) {
      const { count } = await prisma.outboxItem.updateMany({
        where: { id, leaseId, status: 'pending' },
        data: { status: 'sent', doneAt: new Date(), leaseId: null, payload: summary as object, lastError: null },
      });
      return count === 1;
    },

    async markFailed(id, leaseId, error, retryAt, summary) {
      const { count } = await prisma.outboxItem.updateMany({
        where: { id, leaseId, status: 'pending' },
        data: {
          lastError: error.slice(0, MAX_ERROR),
          leaseId: null,
          ...(retryAt ? { availableAt: retryAt } : { status: 'dead', doneAt: new Date(), payload: summary as object }),
        },
      });
      return count === 1;
    },

    async find(id) {
      const row = await prisma.outboxItem.findUnique({ where: { id } });
      if (!row) return undefined;
      return {
        id: row.id,
        kind: row.kind,
        status: row.status as OutboxStatus,
        attempts: row.attempts,
        lastError: row.lastError,
        createdAt: row.createdAt,
        doneAt: row.doneAt,
      } satisfies OutboxRow;
    },

    async nextDue() {
      const row = await prisma.outboxItem.findFirst({
        where: { status: 'pending' },
        orderBy: { availableAt: 'asc' },
        select: { availableAt: true },
      });
      return row?.availableAt;
    },

    purgeDone: (before, batch) =>
      prisma.$executeRawUnsafe(
        `DELETE FROM "outbox" WHERE "id" IN
           (SELECT "id" FROM "outbox" WHERE "status" <> 'pending' AND "done_at" < $1::timestamptz LIMIT $2)`,
        before.toISOString(),
        batch,
      ),
  };
}
