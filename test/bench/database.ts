import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The server's maintenance database: used only to create and drop ours, never for data. Read at
 * each use: the bench may start a private server (private-servers.ts) after this module loads.
 */
export const adminUrl = () => process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh, uniquely named database and returns its URL. */
export async function createDatabase(): Promise<{ name: string; url: string }> {
  const name = `idp_bench_${randomBytes(6).toString('hex')}`;
  // The name is ours and [a-z0-9_]: safe to splice, since DDL takes no parameters.
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

/** Drops a database this bench created; FORCE ends connections a killed child may have left behind. */
export async function dropDatabase(name: string): Promise<void> {
  if (!/^idp_bench_[a-f0-9]+$/.test(name)) throw new Error(`refusing to drop ${name}: not a bench database`);
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}
