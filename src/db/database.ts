import { EventEmitter } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { makePrivate, securePrivateDir } from '../config/private-dir.ts';
import type { Logger } from '../logger.ts';
import { PrismaClient } from './generated/client.ts';

/** A raw SQL connection, for the migrator and LISTEN/NOTIFY (things Prisma does not do). */
export interface SqlSession {
  /** runs SQL text that may hold several statements, with no parameters */
  exec(sql: string): Promise<void>;
  query<T extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** One parameterised statement on the pool, past Prisma (`Database#query`). */
export type Query = SqlSession['query'];

export interface Database {
  readonly kind: 'postgres' | 'embedded';
  readonly prisma: PrismaClient;
  /**
   * One parameterised statement on the pool, past Prisma: for the few statements every sign-in
   * and code exchange runs many times, where Prisma's own work per query (its query compiler,
   * result mapping) costs more CPU than the statement. Unnamed statements only, as a transaction
   * pooler needs.
   */
  query: Query;
  /** runs `fn` on one dedicated connection (session-level advisory locks hold across it) */
  withSession<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  /**
   * Delivers every NOTIFY on `channel`, from this process and from others sharing the database.
   * `onGap` is called when notifications may have been missed (a dropped connection was re-established).
   */
  listen(channel: string, onMessage: (payload: string) => void, onGap: () => void): Promise<void>;
  notify(channel: string, payload: string): Promise<void>;
  ping(): Promise<void>;
  /** connection pool figures for the metrics (PostgreSQL only; the embedded database has no pool) */
  poolStats?(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

/**
 * `databaseUrl` serves every query and may point at a transaction pooler (PgBouncer
 * `pool_mode = transaction`); `databaseDirectUrl` (default `databaseUrl`) must reach PostgreSQL
 * with a session of its own, for what a pooler cannot hand over between transactions: LISTEN,
 * and the migrator's session advisory lock.
 */
export async function openDatabase(
  options: { databaseUrl: string | undefined; databaseDirectUrl?: string | undefined; dataDir: string },
  log: Logger,
): Promise<Database> {
  return options.databaseUrl === undefined
    ? openEmbedded(resolve(options.dataDir, 'pgdata'), log)
    : openPostgres(options.databaseUrl, options.databaseDirectUrl ?? options.databaseUrl, log);
}

/** A server that takes the connection and never answers fails start-up in seconds, not after the TCP stack gives up. */
const CONNECT_TIMEOUT_MS = 5_000;

function openPostgres(databaseUrl: string, directUrl: string, log: Logger): Database {
  // Only unnamed statements go through this pool (pg names one only when asked, and the Prisma
  // adapter does not ask), no session SET, and transaction-scoped advisory locks only: all of
  // which a transaction pooler serves
  // a database that does not answer (a host gone, a failover under way) fails a request within
  // seconds, as 503 with Retry-After, instead of holding it for as long as the TCP stack tries
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // an idle client that loses its connection emits here; without a listener the process would crash
  pool.on('error', (err) => log.warn({ err }, 'database connection lost'));
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const listeners: pg.Client[] = [];
  let closing = false;

  const connectListener = async (
    channel: string,
    onMessage: (payload: string) => void,
    onGap: () => void,
    attempt: number,
  ): Promise<void> => {
    // a pooler in transaction mode would hand this session to others and drop the LISTEN
    const client = new pg.Client({ connectionString: directUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    const retry = () => {
      if (closing) return;
      const delay = Math.min(30_000, 250 * 2 ** Math.min(attempt, 7));
      setTimeout(() => {
        connectListener(channel, onMessage, onGap, attempt + 1).catch(() => {});
      }, delay).unref();
    };
    client.on('error', (err) => {
      log.warn({ err, channel }, 'notification connection lost; caches are flushed and it reconnects');
      listeners.splice(listeners.indexOf(client), 1);
      client.end().catch(() => {});
      onGap();
      retry();
    });
    client.on('notification', (msg) => {
      if (msg.channel === channel && msg.payload !== undefined) onMessage(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      listeners.push(client);
      if (attempt > 0) onGap();
    } catch (err) {
      client.end().catch(() => {});
      if (attempt === 0) throw err;
      retry();
    }
  };

  return {
    kind: 'postgres',
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    prisma,
    query: async <T extends Record<string, unknown>>(sql: string, params?: unknown[]) =>
      (await pool.query<T>(sql, params)).rows,
    async withSession(fn) {
      // its own connection, outside the pool: a session advisory lock taken through a
      // transaction pooler would stay on whichever server connection ran it, never released
      const client = new pg.Client({ connectionString: directUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
      client.on('error', (err) => log.warn({ err }, 'database session connection lost'));
      await client.connect();
      try {
        return await fn({
          exec: async (sql) => {
            await client.query(sql);
          },
          query: async (sql, params) => (await client.query(sql, params)).rows,
        });
      } finally {
        await client.end().catch(() => {});
      }
    },
    listen: (channel, onMessage, onGap) => connectListener(channel, onMessage, onGap, 0),
    async notify(channel, payload) {
      await pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      closing = true;
      await Promise.allSettled(listeners.map((c) => c.end()));
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

/**
 * The embedded database: PGlite (PostgreSQL compiled to WASM) persisted in DATA_DIR.
 * One process owns the directory; a lock file refuses a second one instead of corrupting it.
 */
async function openEmbedded(dir: string, log: Logger): Promise<Database> {
  const dataDir = resolve(dir, '..');
  securePrivateDir(dataDir, log);
  makePrivate(dir, log);
  const lockFile = join(dataDir, 'pgdata.lock');
  await acquireLock(lockFile);
  // loaded only for the embedded database: a PostgreSQL deployment does not carry it in memory
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('pglite-prisma-adapter'),
  ]);
  let db: InstanceType<typeof PGlite>;
  // PGlite creates most of its files at first open: directories private by umask, files by
  // chmod right after (it sets their modes itself); DATA_DIR stays 0700 throughout, so a file
  // it creates later is out of other users' reach until the next start makes it 0600 too
  const umask = process.umask(0o077);
  try {
    db = await PGlite.create(dir);
  } catch (err) {
    rmSync(lockFile, { force: true });
    heldLocks.delete(lockFile);
    throw err;
  } finally {
    process.umask(umask);
  }
  makePrivate(dir, log);
  log.debug({ dir }, 'embedded database opened');
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db) });
  // a single process owns the embedded database, so notifications stay in-process
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  const session: SqlSession = {
    exec: async (sql) => {
      await db.exec(sql);
    },
    query: async <T extends Record<string, unknown>>(sql: string, params?: unknown[]) =>
      (await db.query<T>(sql, params)).rows,
  };
  return {
    kind: 'embedded',
    prisma,
    query: session.query,
    withSession: (fn) => fn(session),
    async listen(channel, onMessage) {
      bus.on(channel, onMessage);
    },
    async notify(channel, payload) {
      bus.emit(channel, payload);
    },
    async ping() {
      await db.query('SELECT 1');
    },
    async close() {
      await prisma.$disconnect();
      await db.close();
      makePrivate(dir, log);
      rmSync(lockFile, { force: true });
      heldLocks.delete(lockFile);
    },
  };
}

/** DATA_DIR's embedded database is held by another process (or already open in this one); the message is the one line to show. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
}

/** lock files this process holds: a lock naming our own pid is stale unless it is in here */
const heldLocks = new Set<string>();

/** How long a start waits for the previous owner of DATA_DIR (being stopped or killed) to let go. */
const LOCK_WAIT_MS = 10_000;

async function acquireLock(file: string, waitMs = LOCK_WAIT_MS): Promise<void> {
  const dataDir = resolve(file, '..');
  if (heldLocks.has(file)) {
    throw new DataDirInUseError(`the embedded database in DATA_DIR ${dataDir} is already open in this process`);
  }
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      heldLocks.add(file);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = Number.NaN;
    try {
      owner = Number.parseInt(readFileSync(file, 'utf8'), 10);
    } catch (err) {
      // the owner removed it between our two calls: try again at once
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    // in a container the server is often pid 1 after every restart: our own pid here is a stale lock
    if (!Number.isInteger(owner) || owner === process.pid || !isAlive(owner)) {
      // a stale lock from a process that died without cleaning up
      writeFileSync(file, String(process.pid), { mode: 0o600 });
      heldLocks.add(file);
      return;
    }
    // a process just killed or being stopped lets go within moments: wait for it, bounded
    if (Date.now() >= deadline) {
      throw new DataDirInUseError(
        `the embedded database in DATA_DIR ${dataDir} is in use by process ${owner} (still running after ${Math.round(waitMs / 1000)} s); stop that process, or set DATA_DIR to another directory (or DATABASE_URL to share PostgreSQL between instances)`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Whether `pid` runs; a zombie (killed, not yet reaped by its parent) does not. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // Linux: the state after the command name; Z is a zombie, X dead
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return true; // no /proc (or it vanished): kill(0) said it exists
  }
}
