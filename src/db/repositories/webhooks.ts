import type { WebhookDeliveryRecord, WebhookRecord, WebhookRepository } from '../../services/ports/webhooks.ts';
import type { PrismaClient } from '../generated/client.ts';
import { nextVersion } from './errors.ts';

const event = (payload: unknown): { id: string; type: string } => {
  const e = (payload as { event?: { id?: unknown; type?: unknown } } | null)?.event;
  return { id: String(e?.id ?? ''), type: String(e?.type ?? '') };
};

export function createWebhookRepository(prisma: PrismaClient): WebhookRepository {
  return {
    create: (webhook) => prisma.webhook.create({ data: webhook }),

    async find(id) {
      return (await prisma.webhook.findUnique({ where: { id } })) ?? undefined;
    },

    list: ({ after, limit }) =>
      prisma.webhook.findMany({
        where: after === undefined ? {} : { id: { gt: after } },
        orderBy: { id: 'asc' },
        take: limit,
      }),

    async update(id, changes, expected) {
      const rows = await prisma.webhook.updateManyAndReturn({
        where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) },
        data: { ...changes, ...(expected === undefined ? {} : { updatedAt: nextVersion(expected) }) },
      });
      const row: WebhookRecord | undefined = rows[0];
      if (row) return row;
      return expected !== undefined && (await prisma.webhook.count({ where: { id } })) > 0 ? 'stale' : undefined;
    },

    async delete(id, expected) {
      // the foreign key removes its deliveries (ON DELETE CASCADE)
      const { count } = await prisma.webhook.deleteMany({
        where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) },
      });
      if (count > 0) return true;
      return expected !== undefined && (await prisma.webhook.count({ where: { id } })) > 0 ? 'stale' : false;
    },

    async deliveries(webhookId, { before, limit }) {
      const rows = await prisma.outboxItem.findMany({
        where: {
          webhookId,
          ...(before === undefined
            ? {}
            : {
                OR: [{ createdAt: { lt: before.createdAt } }, { createdAt: before.createdAt, id: { lt: before.id } }],
              }),
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: limit,
      });
      return rows.map((row): WebhookDeliveryRecord => {
        const e = event(row.payload);
        return {
          id: row.id,
          eventId: e.id,
          eventType: e.type,
          status: row.status as WebhookDeliveryRecord['status'],
          attempts: row.attempts,
          maxAttempts: row.maxAttempts,
          lastStatus: row.lastStatus,
          lastError: row.lastError,
          availableAt: row.availableAt,
          createdAt: row.createdAt,
          doneAt: row.doneAt,
        };
      });
    },
  };
}
