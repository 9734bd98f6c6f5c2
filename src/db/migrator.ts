import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.ts';
import type { Database, SqlSession } from './database.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/** any fixed 64-bit number; instances that start together queue on it */
const MIGRATION_LOCK = 7_347_125_801_913_031;

class MigrationError extends Error {
  override name = 'MigrationError';
}

export interface Migration {
  readonly name: string;
  readonly sql: string;
  /** sha256 of migration.sql in hex, as Prisma computes it */
  readonly checksum: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

// The same table `prisma migrate deploy` keeps, so either tool can take over from the other.
const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

interface AppliedRow extends Record<string, unknown> {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
}

/**
 * Applies pending migrations, each in its own transaction, under a session advisory lock so
 * that instances starting together on one database apply each migration exactly once.
 * Refuses to go on when an applied migration's file has changed or an earlier one failed.
 * @returns the names of the migrations applied now
 */
export async function migrate(db: Database, log: Logger, migrations = readMigrations()): Promise<string[]> {
  return db.withSession(async (session) => {
    await session.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      return await applyPending(session, log, migrations);
    } finally {
      await session.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  });
}

async function applyPending(session: SqlSession, log: Logger, migrations: Migration[]): Promise<string[]> {
  await session.exec(CREATE_TABLE);
  const rows = await session.query<AppliedRow>(
    'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL ORDER BY started_at',
  );
  const applied = new Map<string, AppliedRow>();
  for (const row of rows) {
    if (row.finished_at === null) {
      throw new MigrationError(
        `migration ${row.migration_name} failed earlier and was not rolled back; repair the database, then mark it rolled back`,
      );
    }
    applied.set(row.migration_name, row);
  }
  const known = new Set(migrations.map((m) => m.name));
  for (const name of applied.keys()) {
    if (!known.has(name)) log.warn({ migration: name }, 'the database has a migration this version does not know');
  }

  const done: string[] = [];
  for (const migration of migrations) {
    const row = applied.get(migration.name);
    if (row) {
      if (row.checksum !== migration.checksum) {
        throw new MigrationError(
          `migration ${migration.name} was changed after it was applied (checksum ${row.checksum} in the database, ${migration.checksum} on disk); restore the original file`,
        );
      }
      continue;
    }
    await session.exec('BEGIN');
    try {
      await session.exec(migration.sql);
      await session.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at, applied_steps_count)
         VALUES ($1, $2, $3, now(), 1)`,
        [randomUUID(), migration.checksum, migration.name],
      );
      await session.exec('COMMIT');
    } catch (err) {
      await session.exec('ROLLBACK');
      throw new MigrationError(`migration ${migration.name} failed: ${(err as Error).message}`, { cause: err });
    }
    log.info({ migration: migration.name }, 'migration applied');
    done.push(migration.name);
  }
  return done;
}
