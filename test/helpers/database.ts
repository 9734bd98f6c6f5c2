import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Where a test's data lives: a fresh PostgreSQL database, or a fresh embedded one in a temp dir. */
export interface TestDatabase {
  readonly kind: 'postgres' | 'embedded';
  /** DATABASE_URL or DATA_DIR for the app's environment */
  readonly env: Record<string, string>;
  drop(): Promise<void>;
}

/** The server to create test databases on: TEST_DATABASE_URL, else DATABASE_URL, else none (embedded). */
export const postgresServerUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

export async function createTestDatabase(): Promise<TestDatabase> {
  if (postgresServerUrl === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'idp-test-'));
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
