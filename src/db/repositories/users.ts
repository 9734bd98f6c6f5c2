import type { PrismaClient, User } from '../generated/client.ts';
import { nextVersion } from './errors.ts';

export type UserStatus = 'active' | 'disabled';

/** A row of `users` as the services see it. */
export interface UserRecord {
  readonly id: string;
  readonly username: string;
  readonly usernameNormalized: string;
  readonly email: string | null;
  readonly emailVerified: boolean;
  readonly name: string | null;
  readonly givenName: string | null;
  readonly familyName: string | null;
  readonly passwordHash: string | null;
  readonly status: UserStatus;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly lastSignInAt: Date | null;
  /** access tokens issued before this instant are no longer active; null: none ended yet */
  readonly tokensValidAfter: Date | null;
}

/** What `create` stores. Normalizing (`usernameNormalized`, lower-cased `email`) is the caller's rule. */
export interface NewUserRecord {
  id: string;
  username: string;
  usernameNormalized: string;
  email?: string | null;
  emailVerified?: boolean;
  name?: string | null;
  givenName?: string | null;
  familyName?: string | null;
  passwordHash?: string | null;
  status?: UserStatus;
  tokensValidAfter?: Date | null;
}

export type UserChanges = Partial<Omit<NewUserRecord, 'id'>>;

/** A unique column that already holds the value. Callers answer 409 with it. */
export type UserConflict = 'username_taken' | 'email_taken';

export type UserWriteResult =
  | { ok: true; user: UserRecord }
  | { ok: false; error: UserConflict }
  | { ok: false; error: 'not_found' }
  /** the row is no longer the version the write was conditional on */
  | { ok: false; error: 'stale' };

/** List filters: `usernamePrefix` on the normalized name, `email` exact (normalized), `status`. */
export interface UserFilter {
  status?: 'active' | 'disabled' | undefined;
  usernamePrefix?: string | undefined;
  email?: string | undefined;
}

export interface UserPage {
  users: UserRecord[];
  /** pass as `after` to get the next page; undefined on the last page */
  next: string | undefined;
}

export interface UserRepository {
  findById(id: string): Promise<UserRecord | undefined>;
  findByUsername(usernameNormalized: string): Promise<UserRecord | undefined>;
  findByEmail(email: string): Promise<UserRecord | undefined>;
  /**
   * The user a sign-in name designates: the one whose username matches, else the one whose
   * email matches. One query, so both cases cost the same.
   */
  findByLogin(usernameNormalized: string, email: string): Promise<UserRecord | undefined>;
  create(user: NewUserRecord): Promise<UserWriteResult>;
  /** with `expected`, only if the row is still that version (its `updated_at`) */
  update(id: string, changes: UserChanges, expected?: Date): Promise<UserWriteResult>;
  /** @returns false when there was no such user, 'stale' when it is no longer the `expected` version */
  delete(id: string, expected?: Date): Promise<boolean | 'stale'>;
  /** oldest first; `after` is the `next` of the previous page */
  list(options?: { limit?: number; after?: string; filter?: UserFilter }): Promise<UserPage>;
  recordSignIn(id: string, at?: Date): Promise<void>;
  /**
   * Ends the user's access tokens issued before `at` (moves `tokensValidAfter` forward, never
   * back). Not a change to the user as the admin API shows it: the version (`updatedAt`) stays.
   */
  endTokensBefore(id: string, at: Date): Promise<void>;
}

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
