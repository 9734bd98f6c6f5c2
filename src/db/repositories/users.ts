import type { UserConflict, UserRecord, UserRepository } from '../../services/ports/users.ts';
import type { PrismaClient, User } from '../generated/client.ts';
import { nextVersion } from './errors.ts';

const toRecord = (row: User): UserRecord => ({ ...row, status: row.status === 'disabled' ? 'disabled' : 'active' });

/**
 * Which unique column a failed write hit, or undefined when the error is something else.
 * Prisma reports P2002; with a driver adapter the column names sit in `meta.driverAdapterError`,
 * with the classic engine in `meta.target`, so look at both.
 */
function uniqueConflict(err: unknown): UserConflict | undefined {
  if (typeof err !== 'object' || err === null || (err as { code?: unknown }).code !== 'P2002') return undefined;
  const text = JSON.stringify((err as { meta?: unknown }).meta ?? {});
  if (text.includes('email')) return 'email_taken';
  return 'username_taken';
}

const isNotFound = (err: unknown) =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'P2025';

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

    async create(user) {
      try {
        return { ok: true, user: toRecord(await prisma.user.create({ data: user })) };
      } catch (err) {
        const conflict = uniqueConflict(err);
        if (conflict) return { ok: false, error: conflict };
        throw err;
      }
    },

    async update(id, changes, expected) {
      try {
        if (expected !== undefined) {
          const [row] = await prisma.user.updateManyAndReturn({
            where: { id, updatedAt: expected },
            data: { ...changes, updatedAt: nextVersion(expected) },
          });
          if (row) return { ok: true, user: toRecord(row) };
          return { ok: false, error: (await prisma.user.count({ where: { id } })) > 0 ? 'stale' : 'not_found' };
        }
        return { ok: true, user: toRecord(await prisma.user.update({ where: { id }, data: changes })) };
      } catch (err) {
        if (isNotFound(err)) return { ok: false, error: 'not_found' };
        const conflict = uniqueConflict(err);
        if (conflict) return { ok: false, error: conflict };
        throw err;
      }
    },

    async delete(id, expected) {
      const { count } = await prisma.user.deleteMany({
        where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) },
      });
      if (count > 0) return true;
      return expected !== undefined && (await prisma.user.count({ where: { id } })) > 0 ? 'stale' : false;
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
  };
}
