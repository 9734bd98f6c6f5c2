import type {
  AccountTokenPurpose,
  AccountTokenRecord,
  AccountTokenRepository,
} from '../../services/ports/account-tokens.ts';
import type { AccountToken, PrismaClient } from '../generated/client.ts';

const toRecord = (row: AccountToken): AccountTokenRecord => ({
  purpose: row.purpose as AccountTokenPurpose,
  userId: row.userId,
  email: row.email,
  data: (row.data ?? {}) as Record<string, unknown>,
  expiresAt: row.expiresAt,
});

export function createAccountTokenRepository(prisma: PrismaClient): AccountTokenRepository {
  return {
    async insert(token) {
      await prisma.accountToken.create({
        data: {
          tokenHash: token.tokenHash,
          purpose: token.purpose,
          userId: token.userId,
          email: token.email,
          data: (token.data ?? {}) as object,
          expiresAt: token.expiresAt,
        },
      });
    },

    async find(tokenHash, purpose) {
      const row = await prisma.accountToken.findFirst({
        where: { tokenHash, purpose, consumedAt: null, expiresAt: { gt: new Date() } },
      });
      return row ? toRecord(row) : undefined;
    },

    async consume(tokenHash, purpose) {
      // conditional on still being unused: two requests with one token, one row changed
      const [row] = await prisma.accountToken.updateManyAndReturn({
        where: { tokenHash, purpose, consumedAt: null, expiresAt: { gt: new Date() } },
        data: { consumedAt: new Date() },
      });
      return row ? toRecord(row) : undefined;
    },

    async consumeAllOf(userId, purpose) {
      const { count } = await prisma.accountToken.updateMany({
        where: { userId, purpose, consumedAt: null },
        data: { consumedAt: new Date() },
      });
      return count;
    },

    purgeExpired: (now, batch) =>
      prisma.$executeRawUnsafe(
        `DELETE FROM "account_tokens" WHERE "token_hash" IN
           (SELECT "token_hash" FROM "account_tokens" WHERE "expires_at" <= $1::timestamptz LIMIT $2)`,
        now.toISOString(),
        batch,
      ),
  };
}
