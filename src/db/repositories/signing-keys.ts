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
    replaceCurrent(now, retainForSeconds, decide) {
      return prisma.$transaction(async (tx) => {
        // instances starting together on an empty database must not both create a "current" key
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(${KEYS_LOCK}::bigint)`;
        const keys = await decide((await usable(tx, now)).map(toRecord));
        for (const key of keys) {
          await tx.signingKey.updateMany({
            where: { alg: key.alg, retiredAt: null },
            data: { retiredAt: now, expiresAt: new Date(now.getTime() + retainForSeconds * 1000) },
          });
          await tx.signingKey.create({
            data: { ...key, publicJwk: key.publicJwk as Prisma.InputJsonObject, createdAt: now },
          });
        }
        return keys;
      });
    },
    async deleteExpired(now) {
      const { count } = await prisma.signingKey.deleteMany({ where: { expiresAt: { lte: now } } });
      return count;
    },
  };
}
