import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrator.ts';
import { createLogger } from '../../src/logger.ts';

/** Where a test's data lives: a fresh PostgreSQL database, or a fresh embedded one in a temp dir. */
export interface TestDatabase {
  readonly kind: 'postgres' | 'embedded';
  /** DATABASE_URL or DATA_DIR for the app's environment */
  readonly env: Record<string, string>;
  drop(): Promise<void>;
}

/** The server to create test databases on: TEST_DATABASE_URL, else DATABASE_URL, else none (embedded). */
export const postgresServerUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

const MIGRATIONS_DIR = new URL('../../prisma/migrations/', import.meta.url);

/**
 * An embedded database with every migration applied, made once per set of migrations and kept
 * in the temp dir: PGlite's first open of an empty directory (its initdb) takes seconds, a copy
 * of a ready one a few milliseconds, and the suite opens a hundred of them.
 */
async function migratedTemplate(): Promise<string> {
  const hash = createHash('sha256');
  for (const name of readdirSync(MIGRATIONS_DIR).sort()) {
    const file = new URL(`${name}/migration.sql`, MIGRATIONS_DIR);
    if (existsSync(file)) hash.update(name).update(readFileSync(file));
  }
  const template = join(tmpdir(), `idp-test-template-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(join(template, 'pgdata'))) return template;
  const building = mkdtempSync(join(tmpdir(), 'idp-test-template-building-'));
  const log = createLogger('silent');
  const db = await openDatabase({ databaseUrl: undefined, dataDir: building }, log);
  try {
    await migrate(db, log);
  } finally {
    await db.close();
  }
  rmSync(join(building, 'pgdata.lock'), { force: true });
  try {
    // atomic: a test file building the same template at the same moment loses the race harmlessly
    renameSync(building, template);
  } catch {
    rmSync(building, { recursive: true, force: true });
  }
  return template;
}

/**
 * A fresh database for one test: on PostgreSQL a new database, or a new embedded one in a temp
 * dir. An embedded one starts with the migrations applied (the app then finds nothing to do),
 * unless `empty` asks for one that has never been migrated.
 */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  if (postgresServerUrl === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'idp-test-'));
    if (!options.empty) cpSync(join(await migratedTemplate(), 'pgdata'), join(dir, 'pgdata'), { recursive: true });
    return {
      kind: 'embedded',
      env: { DATA_DIR: dir },
      async drop() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `idp_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresServerUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(postgresServerUrl);
  url.pathname = `/${name}`;
  return {
    kind: 'postgres',
    env: { DATABASE_URL: url.toString() },
    async drop() {
      const client = new pg.Client({ connectionString: postgresServerUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
