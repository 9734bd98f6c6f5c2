import { randomUUID } from 'node:crypto';
import type { SecondFactorRepository, TotpRecord } from '../../services/ports/second-factors.ts';
import type { PrismaClient, TotpCredential } from '../generated/client.ts';

const toRecord = (row: TotpCredential): TotpRecord => ({ ...row, lastStep: Number(row.lastStep) });

const codeRows = (userId: string, hashes: readonly string[]) =>
  hashes.map((codeHash) => ({ id: randomUUID(), userId, codeHash }));

export function createSecondFactorRepository(prisma: PrismaClient): SecondFactorRepository {
  return {
    async findTotp(userId) {
      const row = await prisma.totpCredential.findUnique({ where: { userId } });
      return row === null ? undefined : toRecord(row);
    },

    async startTotp(userId, secretEnc) {
      // one statement: an unconfirmed row is replaced, a confirmed one is left alone
      const count = await prisma.$executeRaw`
        INSERT INTO totp_credentials (user_id, secret_enc, confirmed_at, last_step, created_at)
        VALUES (${userId}, ${secretEnc}, NULL, -1, now())
        ON CONFLICT (user_id) DO UPDATE SET secret_enc = EXCLUDED.secret_enc, last_step = -1, created_at = now()
        WHERE totp_credentials.confirmed_at IS NULL`;
      return count === 1;
    },

    async confirmTotp(userId, secretEnc, step, codeHashes) {
      return prisma.$transaction(async (tx) => {
        const { count } = await tx.totpCredential.updateMany({
          where: { userId, secretEnc, confirmedAt: null },
          data: { confirmedAt: new Date(), lastStep: BigInt(step), lastUsedAt: new Date() },
        });
        if (count !== 1) return 'stale' as const;
        await tx.recoveryCode.deleteMany({ where: { userId } });
        await tx.recoveryCode.createMany({ data: codeRows(userId, codeHashes) });
        return true as const;
      });
    },

    async useTotpStep(userId, step, at) {
      const { count } = await prisma.totpCredential.updateMany({
        where: { userId, confirmedAt: { not: null }, lastStep: { lt: BigInt(step) } },
        data: { lastStep: BigInt(step), lastUsedAt: at },
      });
      return count === 1 ? true : 'stale';
    },

    async removeAll(userId) {
      return prisma.$transaction(async (tx) => {
        const totp = await tx.totpCredential.deleteMany({ where: { userId } });
        const codes = await tx.recoveryCode.deleteMany({ where: { userId } });
        return { totp: totp.count > 0, recoveryCodes: codes.count };
      });
    },

    async replaceRecoveryCodes(userId, codeHashes) {
      await prisma.$transaction([
        prisma.recoveryCode.deleteMany({ where: { userId } }),
        prisma.recoveryCode.createMany({ data: codeRows(userId, codeHashes) }),
      ]);
    },

    async useRecoveryCode(userId, codeHash, at) {
      return prisma.$transaction(async (tx) => {
        const { count } = await tx.recoveryCode.updateMany({
          where: { userId, codeHash, usedAt: null },
          data: { usedAt: at },
        });
        if (count !== 1) return undefined;
        return tx.recoveryCode.count({ where: { userId, usedAt: null } });
      });
    },

    countRecoveryCodes: (userId) => prisma.recoveryCode.count({ where: { userId, usedAt: null } }),
  };
}
