import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { cpuSeconds } from './children.ts';
import { adminUrl } from './database.ts';
import type { IdpTarget } from './idp-target.ts';
import type { BenchUser, SigninClient } from './signin-flow.ts';
import { signIn } from './signin-flow.ts';

/** What one complete sign-in flow (authorize -> login -> code -> token) costs the server, counted alone. */
export interface SigninCosts {
  readonly flows: number;
  /** the server process's CPU per flow, its argon2 threads included */
  readonly cpuMsPerFlow: number;
  /** the same less one argon2 verification (the ceiling's CPU per verify): the project's own CPU */
  readonly nonHashCpuMsPerFlow: number | undefined;
  /** PostgreSQL transactions on the product's database (pg_stat_database) */
  readonly transactionsPerFlow: number | undefined;
  /** statements on the product's database, when the server loads pg_stat_statements */
  readonly statementsPerFlow: number | undefined;
  /** WAL written by the whole PostgreSQL server meanwhile: exact on a private server, an upper bound on a shared one */
  readonly walBytesPerFlow: number | undefined;
  /** Redis commands (INFO commandstats), when the product runs with REDIS_URL */
  readonly redisCommandsPerFlow: number | undefined;
}

/** PostgreSQL sends a busy backend's statistics at most once a second, an idle one's within 10 s. */
const STATS_SETTLE_MS = 11_500;
const CONCURRENCY = 4;

interface Counters {
  xacts: number | undefined;
  walLsnBytes: number | undefined;
  statements: number | undefined;
  redis: number | undefined;
  cpu: number | undefined;
}

async function pgCounters(target: IdpTarget): Promise<Pick<Counters, 'xacts' | 'walLsnBytes' | 'statements'>> {
  if (!target.database) return { xacts: undefined, walLsnBytes: undefined, statements: undefined };
  // from the product's own database, with a connection of ours: its one transaction is taken off below
  const c = new pg.Client({ connectionString: target.database.url, connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    const { rows } = await c.query<{ x: string; wal: string }>(
      `SELECT xact_commit + xact_rollback AS x, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS wal
       FROM pg_stat_database WHERE datname = current_database()`,
    );
    // pg_stat_statements is a view of the database it was created in (the server's maintenance
    // database, private-servers.ts), not of the product's fresh one: read it there, by database
    let statements: number | undefined;
    const admin = new pg.Client({ connectionString: adminUrl(), connectionTimeoutMillis: 5_000 });
    try {
      await admin.connect();
      const st = await admin.query<{ n: string }>(
        `SELECT coalesce(sum(s.calls), 0) AS n FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
         WHERE d.datname = $1 AND s.query NOT LIKE '%pg_stat_%'`,
        [target.database.name],
      );
      statements = Number(st.rows[0]?.n ?? 0);
    } catch {
      // the extension is not loaded on this server: no statement count
    } finally {
      await admin.end().catch(() => {});
    }
    return { xacts: Number(rows[0]?.x ?? 0), walLsnBytes: Number(rows[0]?.wal ?? 0), statements };
  } finally {
    await c.end();
  }
}

function redisCalls(redisUrl: string | undefined): number | undefined {
  if (!redisUrl) return undefined;
  try {
    const url = new URL(redisUrl);
    const text = execFileSync('redis-cli', ['-h', url.hostname, '-p', url.port || '6379', 'info', 'commandstats'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    let calls = 0;
    for (const m of text.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) if (m[1] !== 'info') calls += Number(m[2]);
    return calls;
  } catch {
    return undefined;
  }
}

async function counters(target: IdpTarget, redisUrl: string | undefined): Promise<Counters> {
  return { ...(await pgCounters(target)), redis: redisCalls(redisUrl), cpu: cpuSeconds(target.child.pid) };
}

const per = (after: number | undefined, before: number | undefined, n: number, overhead = 0) =>
  after === undefined || before === undefined ? undefined : (after - before - overhead) / n;

/**
 * `flows` sign-ins with nothing else running against the server (no token load), `CONCURRENCY` at
 * a time, and the counters read before and after, once PostgreSQL has published its statistics.
 * Redis is shared with whatever else uses it, so its count is exact only on a Redis of its own.
 */
export async function measureSigninCosts(
  target: IdpTarget,
  client: SigninClient,
  nextUser: () => BenchUser,
  options: { flows: number; redisUrl: string | undefined; argon2CpuMsPerVerify: number | undefined },
): Promise<SigninCosts> {
  await sleep(STATS_SETTLE_MS);
  const before = await counters(target, options.redisUrl);
  let started = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (started < options.flows) {
        started++;
        await signIn(client, nextUser());
      }
    }),
  );
  const cpu = cpuSeconds(target.child.pid);
  await sleep(STATS_SETTLE_MS);
  const after = { ...(await counters(target, options.redisUrl)), cpu };
  const n = options.flows;
  const cpuMsPerFlow = ((per(after.cpu, before.cpu, n) ?? Number.NaN) as number) * 1e3;
  return {
    flows: n,
    cpuMsPerFlow,
    nonHashCpuMsPerFlow:
      options.argon2CpuMsPerVerify === undefined ? undefined : cpuMsPerFlow - options.argon2CpuMsPerVerify,
    // our own reading before the run is one transaction on the product's database
    transactionsPerFlow: per(after.xacts, before.xacts, n, 1),
    // our own readings name pg_stat_ and are left out of the count
    statementsPerFlow: per(after.statements, before.statements, n, 0),
    walBytesPerFlow: per(after.walLsnBytes, before.walLsnBytes, n),
    redisCommandsPerFlow: per(after.redis, before.redis, n),
  };
}
