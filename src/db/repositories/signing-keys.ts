import type { SigningKeyRecord, SigningKeyRepository } from '../../services/ports/signing-keys.ts';
import type { Prisma, PrismaClient } from '../generated/client.ts';

/** any fixed 64-bit number, distinct from the migrator's */
const KEYS_LOCK = 7_347_125_801_913_032;

const toRecord = (row: {
  kid: string;
  alg: string;
  publicJwk: Prisma.JsonValue;
  privateJwk: string;
  createdAt: Date;
  activatesAt: Date;
  retiredAt: Date | null;
  expiresAt: Date | null;
}): SigningKeyRecord => ({ ...row, publicJwk: row.publicJwk as Record<string, unknown> });

export function createSigningKeyRepository(prisma: PrismaClient): SigningKeyRepository {
  const usable = (client: Pick<PrismaClient, 'signingKey'>, now: Date) =>
    client.signingKey.findMany({
      where: { OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
      orderBy: [{ createdAt: 'desc' }, { kid: 'asc' }],
    });

  return {
    async listUsable(now) {
      return (await usable(prisma, now)).map(toRecord);
    },
    change(now, plan) {
      return prisma.$transaction(async (tx) => {
        // instances starting together on an empty database must not both create a key, nor two
        // rotations both add a pending one
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(${KEYS_LOCK}::bigint)`;
        const changes = await plan((await usable(tx, now)).map(toRecord));
        if (changes.remove.length > 0) await tx.signingKey.deleteMany({ where: { kid: { in: changes.remove } } });
        for (const { kid, retiredAt, expiresAt } of changes.retire) {
          await tx.signingKey.update({ where: { kid }, data: { retiredAt, expiresAt } });
        }
        for (const key of changes.create) {
          await tx.signingKey.create({
            data: { ...key, publicJwk: key.publicJwk as Prisma.InputJsonObject, createdAt: now },
          });
        }
        return changes;
      });
    },
    async deleteExpired(now) {
      const { count } = await prisma.signingKey.deleteMany({ where: { expiresAt: { lte: now } } });
      return count;
    },
  };
}
