import type { Agent } from 'node:http';
import { Redis } from 'ioredis';
import pg from 'pg';
import { runLoad, type TokenRequest } from './load.ts';
import type { Target } from './targets.ts';

/**
 * What one request costs besides CPU, counted over a fixed number of requests: SQL statements
 * (pg_stat_statements, BEGIN and COMMIT included) and WAL bytes on the bench's private PostgreSQL,
 * Redis commands (those run inside a script included) and Redis round trips (commands a client
 * sent). These are counts: unlike requests per second they do not move with the machine's load.
 * Undefined where the target has no such store (the baseline) or no private server counts it.
 */
export interface RequestCosts {
  readonly statements: number | undefined;
  readonly walBytes: number | undefined;
  readonly redisCommands: number | undefined;
  readonly redisRoundTrips: number | undefined;
}

export const NO_COSTS: RequestCosts = {
  statements: undefined,
  walBytes: undefined,
  redisCommands: undefined,
  redisRoundTrips: undefined,
};

/** Security events reach the database in batches every 250 ms (security-events.ts): wait them out. */
const SETTLE_MS = 600;
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

async function pgCounters(adminUrl: string, database: string): Promise<{ statements: number; wal: number }> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    // run from the maintenance database: these queries are not counted against the product's
    const { rows } = await c.query<{ calls: string; wal: string }>(
      `SELECT (SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
               WHERE d.datname = $1) AS calls,
              pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS wal`,
      [database],
    );
    return { statements: Number(rows[0]?.calls ?? 0), wal: Number(rows[0]?.wal ?? 0) };
  } finally {
    await c.end();
  }
}

export async function measureCosts(
  target: Target,
  agent: Agent,
  req: TokenRequest,
  options: { count: number; marker: Buffer; privatePgUrl: string | undefined },
): Promise<RequestCosts & { errors: number }> {
  const { count } = options;
  const pgUrl = target.database && options.privatePgUrl ? options.privatePgUrl : undefined;
  let monitor: Redis | undefined;
  let watcher: Redis | undefined;
  let commands = 0;
  let roundTrips = 0;
  if (target.redisUrl) {
    watcher = new Redis(target.redisUrl);
    monitor = await watcher.monitor();
    monitor.on('monitor', (_time: string, _args: string[], source: string) => {
      commands++;
      // MONITOR names "lua" as the source of a command a script ran
      if (source !== 'lua') roundTrips++;
    });
  }
  try {
    await settle();
    const before = pgUrl && target.database ? await pgCounters(pgUrl, target.database.name) : undefined;
    commands = 0;
    roundTrips = 0;
    const run = await runLoad(agent, req, { concurrency: 8, count, marker: options.marker });
    await settle();
    const after = pgUrl && target.database ? await pgCounters(pgUrl, target.database.name) : undefined;
    const per = (n: number) => n / count;
    return {
      statements: before && after ? per(after.statements - before.statements) : undefined,
      walBytes: before && after ? per(after.wal - before.wal) : undefined,
      redisCommands: monitor ? per(commands) : undefined,
      redisRoundTrips: monitor ? per(roundTrips) : undefined,
      errors: run.errors,
    };
  } finally {
    monitor?.disconnect();
    watcher?.disconnect();
  }
}
