/**
 * What one operation costs (npm run measure:costs): CPU, PostgreSQL transactions, WAL and rows,
 * Redis commands, per client-credentials token and per password sign-in; connections and memory
 * per instance. The figures of docs/scaling.md come from here.
 *
 * It starts a private PostgreSQL and a private Redis on free ports, so that the deltas it reads
 * (pg_stat_database, pg_current_wal_lsn(), pg_stat_user_tables, INFO commandstats) are the
 * product's alone on a shared machine, then the product itself as `npm start` runs it, and
 * repeats each measurement MEASURE_ROUNDS times (default 3), printing medians.
 *
 * Environment: MEASURE_TOKENS (default 2000), MEASURE_SIGNINS (default 60), MEASURE_ROUNDS.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, killGroup, PG_BIN, waitFor } from './failover/cluster.ts';

const TOKENS = Number(process.env.MEASURE_TOKENS ?? 2000);
const SIGNINS = Number(process.env.MEASURE_SIGNINS ?? 60);
const ROUNDS = Number(process.env.MEASURE_ROUNDS ?? 3);
const CONCURRENCY = 8;
/** PostgreSQL 15 backends send their statistics at most once a second, idle ones within 10 s */
const STATS_SETTLE_MS = 11_500;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const dir = mkdtempSync(join(tmpdir(), 'idp-measure-'));
const killers: (() => void)[] = [];
const cleanup = () => {
  for (const kill of killers.splice(0)) kill();
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

function spawnDetached(command: string, args: string[], asPostgres: boolean) {
  const owner =
    asPostgres && process.getuid?.() === 0
      ? {
          uid: Number(execFileSync('id', ['-u', 'postgres']).toString()),
          gid: Number(execFileSync('id', ['-g', 'postgres']).toString()),
        }
      : undefined;
  const child = spawn(command, args, { detached: true, stdio: 'ignore', ...(owner ?? {}) });
  killers.push(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'));
  return owner;
}

async function startPostgres(): Promise<string> {
  const data = join(dir, 'pg');
  const port = await freePort();
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
    execFileSync(
      'runuser',
      ['-u', 'postgres', '--', join(PG_BIN, 'initdb'), '-A', 'trust', '-U', 'postgres', '-D', data],
      {
        stdio: 'ignore',
      },
    );
  } else {
    execFileSync(join(PG_BIN, 'initdb'), ['-A', 'trust', '-U', 'postgres', '-D', data], { stdio: 'ignore' });
  }
  // the settings of a default installation: fsync and full_page_writes on, as in production
  spawnDetached(
    join(PG_BIN, 'postgres'),
    [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      // statements per operation, by statement (the extension only counts; it changes no plan)
      '-c',
      'shared_preload_libraries=pg_stat_statements',
      '-c',
      'pg_stat_statements.track=all',
    ],
    true,
  );
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await waitFor('the private PostgreSQL', 30_000, async () => {
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => {});
    await c.connect();
    await c.end();
    return true;
  });
  return url;
}

async function startRedis(): Promise<string> {
  const port = await freePort();
  spawnDetached(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    false,
  );
  await waitFor('the private Redis', 10_000, async () => {
    execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore' });
    return true;
  });
  return `redis://127.0.0.1:${port}`;
}

/** calls per command so far (INFO itself, ours, left out) */
function redisCommands(url: string): Record<string, number> {
  const port = new URL(url).port;
  const text = execFileSync('redis-cli', ['-p', port, 'info', 'commandstats']).toString();
  const calls: Record<string, number> = {};
  for (const m of text.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) {
    if (m[1] !== 'info' && m[1] !== undefined) calls[m[1]] = Number(m[2]);
  }
  return calls;
}

const perOp = (after: Record<string, number>, before: Record<string, number>, count: number) => {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(after)) {
    const d = n - (before[key] ?? 0);
    if (d > 0) out[key] = d / count;
  }
  return out;
};
const sum = (xs: Record<string, number>) => Object.values(xs).reduce((a, b) => a + b, 0);

interface DbCounters {
  xacts: number;
  walBytes: number;
  inserts: Record<string, number>;
  /** calls per normalised statement text (pg_stat_statements), the product's database only */
  statements: Record<string, number>;
}

async function dbCounters(serverUrl: string, dbName: string): Promise<DbCounters> {
  // measured from the maintenance database, so these queries are not counted against the product's
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    const x = await c.query<{ x: string; wal: string }>(
      "SELECT xact_commit + xact_rollback AS x, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS wal FROM pg_stat_database WHERE datname = $1",
      [dbName],
    );
    const other = new URL(serverUrl);
    other.pathname = `/${dbName}`;
    const t = new pg.Client({ connectionString: other.toString() });
    await t.connect();
    const rows = await t.query<{ relname: string; n: string }>(
      'SELECT relname, n_tup_ins AS n FROM pg_stat_user_tables',
    );
    await t.end();
    const st = await c.query<{ query: string; calls: string }>(
      `SELECT s.query, sum(s.calls) AS calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = $1 GROUP BY s.query`,
      [dbName],
    );
    return {
      xacts: Number(x.rows[0]?.x ?? 0),
      walBytes: Number(x.rows[0]?.wal ?? 0),
      inserts: Object.fromEntries(rows.rows.map((r) => [r.relname, Number(r.n)])),
      statements: statementCalls(st.rows),
    };
  } finally {
    await c.end();
  }
}

/** Calls by statement, named by its start and its end (Prisma's SELECT lists are long; the WHERE tells them apart). */
function statementCalls(rows: { query: string; calls: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) {
    // the measuring's own queries
    if (/pg_stat_user_tables|pg_stat_database|pg_stat_statements/.test(r.query)) continue;
    const text = r.query.replace(/\s+/g, ' ').replaceAll('"public".', '');
    const name = text.length <= 200 ? text : `${text.slice(0, 90)} … ${text.slice(-100)}`;
    out[name] = (out[name] ?? 0) + Number(r.calls);
  }
  return out;
}

async function connections(serverUrl: string, dbName: string): Promise<number> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
      [dbName],
    );
    return rows[0]?.n ?? 0;
  } finally {
    await c.end();
  }
}

const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ');
  // utime and stime are fields 14 and 15 of /proc/<pid>/stat (11 and 12 after the command name)
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
};
const rssMiB = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

async function pool<T>(count: number, concurrency: number, op: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) await op(i);
    }),
  );
}

interface Cost {
  cpuMs: number;
  xacts: number;
  walBytes: number;
  redis: number;
  redisByCommand: Record<string, number>;
  inserts: Record<string, number>;
  statements: number;
  statementsByText: Record<string, number>;
  perSecond: number;
}

async function main() {
  const pgUrl = await startPostgres();
  const redisUrl = await startRedis();
  process.env.BENCH_PG_ADMIN_URL = pgUrl;
  // loaded after BENCH_PG_ADMIN_URL is set: the bench's database helper reads it once
  const { startIdp } = await import('../test/bench/idp-target.ts');
  const { setUpSignin } = await import('../test/bench/signin-setup.ts');
  const { signIn } = await import('../test/bench/signin-flow.ts');
  const { basicAuth } = await import('../test/bench/http-json.ts');
  const { BENCH_RESOURCE } = await import('../test/bench/bare-provider.ts');

  const target = await startIdp('idp', 'pg', { REDIS_URL: redisUrl, RATE_LIMIT_SIGNIN_IP: '1000000' });
  killers.unshift(() => {
    void target.close();
  });
  const pid = target.child.pid;
  const dbName = await productDatabase(pgUrl);
  await createStatementStats(pgUrl);
  const rssStart = rssMiB(pid);
  const { client, users } = await setUpSignin(target, SIGNINS * ROUNDS);

  const token = async () => {
    const res = await fetch(target.tokenEndpoint, {
      method: 'POST',
      headers: {
        authorization: basicAuth(target.clientId, target.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: BENCH_RESOURCE }),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`token: ${res.status}`);
  };
  // warm up (JIT, caches, pools) before anything is counted
  await pool(200, CONCURRENCY, token);
  await pool(Math.min(5, SIGNINS), 2, (i) => signIn(client, users[i] as (typeof users)[number]));
  await new Promise((r) => setTimeout(r, STATS_SETTLE_MS));

  const measure = async (count: number, op: () => Promise<void>, concurrency: number): Promise<Cost> => {
    const before = await dbCounters(pgUrl, dbName);
    const redisBefore = redisCommands(redisUrl);
    const cpuBefore = cpuSeconds(pid);
    const t0 = performance.now();
    await pool(count, concurrency, op);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(pid) - cpuBefore;
    // events are written in batches and statistics reach PostgreSQL late: wait for both
    await new Promise((r) => setTimeout(r, STATS_SETTLE_MS));
    const after = await dbCounters(pgUrl, dbName);
    const inserts = perOp(after.inserts, before.inserts, count);
    const redis = perOp(redisCommands(redisUrl), redisBefore, count);
    const statements = perOp(after.statements, before.statements, count);
    return {
      cpuMs: (cpu * 1000) / count,
      // the measuring itself: one transaction per dbCounters on the product's database
      xacts: (after.xacts - before.xacts - 1) / count,
      walBytes: (after.walBytes - before.walBytes) / count,
      redis: sum(redis),
      redisByCommand: redis,
      inserts,
      statements: sum(statements),
      statementsByText: statements,
      perSecond: count / elapsed,
    };
  };

  const tokenCosts: Cost[] = [];
  const signinCosts: Cost[] = [];
  let userIndex = 5;
  for (let round = 0; round < ROUNDS; round++) {
    tokenCosts.push(await measure(TOKENS, token, CONCURRENCY));
    signinCosts.push(
      await measure(
        SIGNINS,
        async () => {
          await signIn(client, users[userIndex++ % users.length] as (typeof users)[number]);
        },
        4,
      ),
    );
    console.error(`round ${round + 1}/${ROUNDS} done`);
  }
  const conns = await connections(pgUrl, dbName);
  const rssEnd = rssMiB(pid);
  await target.close();

  const summarize = (costs: Cost[]) => ({
    cpuMsPerOp: round2(median(costs.map((c) => c.cpuMs))),
    pgTransactionsPerOp: round2(median(costs.map((c) => c.xacts))),
    walKiBPerOp: round2(median(costs.map((c) => c.walBytes)) / 1024),
    redisCommandsPerOp: round2(median(costs.map((c) => c.redis))),
    rowsInsertedPerOp: medianOfMaps(costs.map((c) => c.inserts)),
    sqlStatementsPerOp: round2(median(costs.map((c) => c.statements))),
    sqlStatementsByText: medianOfMaps(costs.map((c) => c.statementsByText)),
    redisCommandsByName: medianOfMaps(costs.map((c) => c.redisByCommand)),
    opsPerSecondMeasured: round2(median(costs.map((c) => c.perSecond))),
  });
  const tokens = summarize(tokenCosts);
  const signins = summarize(signinCosts);
  console.log(
    JSON.stringify(
      {
        rounds: ROUNDS,
        tokensPerRound: TOKENS,
        signinsPerRound: SIGNINS,
        clientCredentialsToken: { ...tokens, cpuCoresPer100PerSecond: round2((tokens.cpuMsPerOp * 100) / 1000) },
        passwordSignin: { ...signins, cpuCoresPer10PerSecond: round2((signins.cpuMsPerOp * 10) / 1000) },
        instance: {
          postgresConnections: conns,
          rssMiBAfterStart: Math.round(rssStart),
          rssMiBAfterLoad: Math.round(rssEnd),
        },
      },
      null,
      2,
    ),
  );
}

async function createStatementStats(serverUrl: string): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  } finally {
    await c.end();
  }
}

/** the database the bench created for the product (the only idp_bench_* one on this private server) */
async function productDatabase(serverUrl: string): Promise<string> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'idp_bench_%'",
    );
    if (rows.length !== 1) throw new Error(`expected one bench database, found ${rows.length}`);
    return (rows[0] as { datname: string }).datname;
  } finally {
    await c.end();
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const medianOfMaps = (maps: Record<string, number>[]) =>
  Object.fromEntries(
    [...new Set(maps.flatMap((m) => Object.keys(m)))].map((k) => [k, round2(median(maps.map((m) => m[k] ?? 0)))]),
  );

try {
  await main();
} catch (err) {
  console.error(`FAIL: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  cleanup();
}
