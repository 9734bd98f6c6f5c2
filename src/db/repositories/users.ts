import type { UserRecord, UserRepository } from '../../services/ports/users.ts';
import type { PrismaClient, User } from '../generated/client.ts';
import { nextVersion, unique } from './errors.ts';

const toRecord = (row: User): UserRecord => ({ ...row, status: row.status === 'disabled' ? 'disabled' : 'active' });

// the unique columns: the email, else the (normalized) username
const UNIQUE = ['email', 'username'] as const;

export function createUserRepository(prisma: PrismaClient): UserRepository {
  const one = (row: User | null) => (row === null ? undefined : toRecord(row));

  return {
    findById: async (id) => one(await prisma.user.findUnique({ where: { id } })),
    findByUsername: async (usernameNormalized) => one(await prisma.user.findUnique({ where: { usernameNormalized } })),
    findByEmail: async (email) => one(await prisma.user.findUnique({ where: { email } })),

    async findByLogin(usernameNormalized, email) {
      const rows = await prisma.user.findMany({
        where: { OR: [{ usernameNormalized }, { email }] },
        take: 2,
      });
      return one(rows.find((r) => r.usernameNormalized === usernameNormalized) ?? rows[0] ?? null);
    },

    create: async (user) => toRecord(await unique(UNIQUE, () => prisma.user.create({ data: user }))),

    async update(id, changes, expected) {
      const [row] = await unique(UNIQUE, () =>
        prisma.user.updateManyAndReturn({
          where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) },
          data: { ...changes, ...(expected === undefined ? {} : { updatedAt: nextVersion(expected) }) },
        }),
      );
      if (row) return toRecord(row);
      return expected !== undefined && (await prisma.user.count({ where: { id } })) > 0 ? 'stale' : undefined;
    },

    async delete(id, expected) {
      const { count } = await prisma.user.deleteMany({
        where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) },
      });
      if (count > 0) return true;
      return expected !== undefined && (await prisma.user.count({ where: { id } })) > 0 ? 'stale' : undefined;
    },

    async list({ limit = 50, after, filter = {} } = {}) {
      const take = Math.min(Math.max(Math.trunc(limit), 1), 200);
      const rows = await prisma.user.findMany({
        where: {
          ...(filter.status ? { status: filter.status } : {}),
          ...(filter.usernamePrefix ? { usernameNormalized: { startsWith: filter.usernamePrefix } } : {}),
          ...(filter.email ? { email: filter.email } : {}),
        },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: take + 1,
        ...(after === undefined ? {} : { cursor: { id: after }, skip: 1 }),
      });
      const page = rows.slice(0, take).map(toRecord);
      return { users: page, next: rows.length > take ? page.at(-1)?.id : undefined };
    },

    async recordSignIn(id, at = new Date()) {
      // updateMany: a user deleted meanwhile is not an error here
      await prisma.user.updateMany({ where: { id }, data: { lastSignInAt: at } });
    },

    async endTokensBefore(id, at) {
      // raw: Prisma would move @updatedAt, and with it the ETag an admin holds
      await prisma.$executeRaw`UPDATE "users"
        SET "tokens_valid_after" = GREATEST(COALESCE("tokens_valid_after", ${at}::timestamptz), ${at}::timestamptz)
        WHERE "id" = ${id}`;
    },

    async setLocale(id, locale) {
      // raw, as above; and only when it differs, so the usual visit writes nothing
      await prisma.$executeRaw`UPDATE "users" SET "locale" = ${locale}
        WHERE "id" = ${id} AND "locale" IS DISTINCT FROM ${locale}`;
    },
  };
}
