import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { Logger } from '../logger.ts';
import { PrismaClient } from './generated/client.ts';

/** A raw SQL connection, for the migrator and LISTEN/NOTIFY (things Prisma does not do). */
export interface SqlSession {
  /** runs SQL text that may hold several statements, with no parameters */
  exec(sql: string): Promise<void>;
  query<T extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Database {
  readonly kind: 'postgres' | 'embedded';
  readonly prisma: PrismaClient;
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

export async function openDatabase(
  options: { databaseUrl: string | undefined; dataDir: string },
  log: Logger,
): Promise<Database> {
  return options.databaseUrl === undefined
    ? openEmbedded(resolve(options.dataDir, 'pgdata'), log)
    : openPostgres(options.databaseUrl, log);
}

function openPostgres(databaseUrl: string, log: Logger): Database {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10, idleTimeoutMillis: 30_000 });
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
    const client = new pg.Client({ connectionString: databaseUrl });
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
    async withSession(fn) {
      const client = await pool.connect();
      try {
        return await fn({
          exec: async (sql) => {
            await client.query(sql);
          },
          query: async (sql, params) => (await client.query(sql, params)).rows,
        });
      } finally {
        client.release();
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
  mkdirSync(dir, { recursive: true });
  const lockFile = join(dir, '..', 'pgdata.lock');
  acquireLock(lockFile);
  // loaded only for the embedded database: a PostgreSQL deployment does not carry it in memory
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('pglite-prisma-adapter'),
  ]);
  let db: InstanceType<typeof PGlite>;
  try {
    db = await PGlite.create(dir);
  } catch (err) {
    rmSync(lockFile, { force: true });
    heldLocks.delete(lockFile);
    throw err;
  }
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
      rmSync(lockFile, { force: true });
      heldLocks.delete(lockFile);
    },
  };
}

/** lock files this process holds: a lock naming our own pid is stale unless it is in here */
const heldLocks = new Set<string>();

function acquireLock(file: string): void {
  if (heldLocks.has(file)) {
    throw new Error(`the embedded database in ${resolve(file, '..')} is already open in this process`);
  }
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    heldLocks.add(file);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const owner = Number.parseInt(readFileSync(file, 'utf8'), 10);
  // in a container the server is often pid 1 after every restart: our own pid here is a stale lock
  if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
    throw new Error(
      `the embedded database in ${resolve(file, '..')} is in use by process ${owner}; stop it or use another DATA_DIR`,
    );
  }
  // a stale lock from a process that died without cleaning up
  writeFileSync(file, String(process.pid));
  heldLocks.add(file);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
