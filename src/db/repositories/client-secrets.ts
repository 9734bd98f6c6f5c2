import type { ClientSecretRecord, ClientSecretRepository } from '../../services/ports/client-secrets.ts';
import type { PrismaClient } from '../generated/client.ts';
import { endRegistration } from './clients.ts';

export function createClientSecretRepository(prisma: PrismaClient): ClientSecretRepository {
  return {
    list: (clientId) =>
      prisma.clientSecret.findMany({ where: { clientId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] }),
    listLive: (clientId, now) =>
      prisma.clientSecret.findMany({
        where: { clientId, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      }),
    async add(secret, max, now) {
      return prisma.$transaction(async (tx): Promise<ClientSecretRecord | 'full' | undefined> => {
        // the client's row, locked: two adds at once are counted one after the other
        const locked = await tx.$queryRaw<
          { id: string }[]
        >`SELECT "id" FROM "clients" WHERE "id" = ${secret.clientId} FOR UPDATE`;
        if (locked.length === 0) return undefined;
        const live = await tx.clientSecret.count({
          where: { clientId: secret.clientId, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
        });
        if (live >= max) return 'full';
        // an admin now manages its secrets: a self-registered client's RFC 7592 token ends (ADR 0010)
        await endRegistration(tx, secret.clientId);
        return tx.clientSecret.create({ data: { ...secret, createdAt: now } });
      });
    },
    async remove(clientId, id) {
      const [{ count }] = await prisma.$transaction([
        prisma.clientSecret.deleteMany({ where: { clientId, id } }),
        endRegistration(prisma, clientId),
      ]);
      return count > 0 ? true : undefined;
    },
    async touch(ids, at) {
      if (ids.length === 0) return;
      await prisma.clientSecret.updateMany({ where: { id: { in: [...ids] } }, data: { lastUsedAt: at } });
    },
  };
}
