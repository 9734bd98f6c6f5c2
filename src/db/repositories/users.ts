import type { UserRecord, UserRepository } from '../../services/ports/users.ts';
import type { Query } from '../database.ts';
import type { PrismaClient, User } from '../generated/client.ts';
import { nextVersion, unique } from './errors.ts';

const toRecord = (row: User): UserRecord => ({ ...row, status: row.status === 'disabled' ? 'disabled' : 'active' });

// the unique columns: the email, else the (normalized) username
const UNIQUE = ['email', 'username'] as const;

/** `last_sign_in_at` -> `lastSignInAt`: the model's fields are its columns in camel case (prisma/schema.prisma). */
const camelNames = new Map<string, string>();
const camel = (column: string) => {
  let name = camelNames.get(column);
  if (name === undefined) {
    name = column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    camelNames.set(column, name);
  }
  return name;
};

/** A `SELECT *` row as Prisma would give it: every column, so a column added later comes along. */
function fromColumns(row: Record<string, unknown>): User {
  const out: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(row)) out[camel(column)] = value;
  return out as unknown as User;
}

export function createUserRepository(prisma: PrismaClient, query: Query): UserRepository {
  const one = (row: User | null) => (row === null ? undefined : toRecord(row));
  // the lookups every sign-in makes (by name, then by id at the resume and at the code exchange):
  // plain SQL, as Prisma's compiler and mapping cost more CPU than the indexed read itself
  const first = async (sql: string, params: unknown[]) => {
    const [row] = await query(sql, params);
    return row === undefined ? undefined : toRecord(fromColumns(row));
  };

  return {
    findById: (id) => first(`SELECT * FROM "users" WHERE "id" = $1`, [id]),
    findByUsername: async (usernameNormalized) => one(await prisma.user.findUnique({ where: { usernameNormalized } })),
    findByEmail: async (email) => one(await prisma.user.findUnique({ where: { email } })),

    async findByLogin(usernameNormalized, email) {
      // the username first: one person's email may be typed as another's username
      return first(
        `SELECT * FROM "users" WHERE "username_normalized" = $1 OR "email" = $2
         ORDER BY ("username_normalized" = $1) DESC LIMIT 1`,
        [usernameNormalized, email],
      );
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
      // plain SQL, one statement on every sign-in: Prisma would also move @updatedAt, and with it the
      // ETag an admin holds (a sign-in is no change to the account). A user deleted meanwhile
      // matches no row, which is not an error here.
      await query(`UPDATE "users" SET "last_sign_in_at" = $1::timestamptz WHERE "id" = $2`, [at.toISOString(), id]);
    },

    async endTokensBefore(id, at) {
      // raw: Prisma would move @updatedAt, and with it the ETag an admin holds
      await prisma.$executeRaw`UPDATE "users"
        SET "tokens_valid_after" = GREATEST(COALESCE("tokens_valid_after", ${at}::timestamptz), ${at}::timestamptz)
        WHERE "id" = ${id}`;
    },

    async setLocale(id, locale) {
      // raw, as above; and only when it differs, so the usual visit writes nothing
      await query(`UPDATE "users" SET "locale" = $1 WHERE "id" = $2 AND "locale" IS DISTINCT FROM $1`, [locale, id]);
    },
  };
}
