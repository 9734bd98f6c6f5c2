import type { PasskeyRecord, PasskeyRepository } from '../../services/ports/passkeys.ts';
import type { Passkey, PrismaClient } from '../generated/client.ts';
import { isUniqueViolation } from './errors.ts';

const toRecord = (row: Passkey): PasskeyRecord => ({ ...row, counter: Number(row.counter) });

export function createPasskeyRepository(prisma: PrismaClient): PasskeyRepository {
  return {
    async listByUser(userId) {
      const rows = await prisma.passkey.findMany({ where: { userId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
      return rows.map(toRecord);
    },

    async findByCredentialId(credentialId) {
      const row = await prisma.passkey.findUnique({ where: { credentialId } });
      return row === null ? undefined : toRecord(row);
    },

    async create(passkey) {
      try {
        await prisma.passkey.create({
          data: {
            ...passkey,
            transports: [...passkey.transports],
            publicKey: Buffer.from(passkey.publicKey),
            counter: BigInt(passkey.counter),
          },
        });
        return true;
      } catch (err) {
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    },

    async rename(userId, id, name) {
      const { count } = await prisma.passkey.updateMany({ where: { id, userId }, data: { name } });
      return count > 0;
    },

    async remove(userId, id) {
      return prisma.$transaction(async (tx) => {
        const row = await tx.passkey.findFirst({ where: { id, userId } });
        if (row === null) return { removed: undefined, remaining: await tx.passkey.count({ where: { userId } }) };
        await tx.passkey.delete({ where: { id } });
        const remaining = await tx.passkey.count({ where: { userId } });
        // a second factor the user can no longer give would lock them out
        if (remaining === 0) await tx.mfaSetting.deleteMany({ where: { userId } });
        return { removed: toRecord(row), remaining };
      });
    },

    async recordUse(id, previous, next) {
      const { count } = await prisma.passkey.updateMany({
        where: { id, counter: BigInt(previous) },
        data: { counter: BigInt(next.counter), backedUp: next.backedUp, lastUsedAt: next.at },
      });
      return count === 1;
    },

    async mfaRequired(userId) {
      const row = await prisma.mfaSetting.findUnique({ where: { userId } });
      return row?.required === true;
    },

    async setMfaRequired(userId, required) {
      await prisma.mfaSetting.upsert({ where: { userId }, create: { userId, required }, update: { required } });
    },
  };
}
