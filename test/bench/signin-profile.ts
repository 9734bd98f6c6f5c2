// Where a password sign-in's server CPU goes: one product server (idp-pg, `npm start`'s command)
// started with `--cpu-prof`, N complete sign-ins driven against it after a warm-up, the CPU of
// each server thread read from /proc before and after (the main thread is our JavaScript, the
// libuv pool threads are argon2 and WebCrypto), then the profile's samples inside the measured
// window summed by function and by file. Run:
//   node --experimental-strip-types test/bench/signin-profile.ts [flows=200] [warmup=40]
// Environment: BENCH_IDP_ENV as for `npm run bench`; SIGNIN_PROFILE_DIR keeps the .cpuprofile;
// SIGNIN_PROFILE=0 runs without the profiler (its sampling thread and overhead), CPU figures only;
// SIGNIN_PROFILE_STATEMENTS=1 runs the product on a private PostgreSQL (private-servers.ts) and
// prints its statements per flow, with WAL, and the most frequent ones.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { type CpuProfile, summarizeProfile, threadCpu } from './cpu-profile.ts';
import { adminUrl } from './database.ts';
import { startIdp } from './idp-target.ts';
import { readOptions } from './options.ts';
import { type PrivateServer, startPrivatePostgres } from './private-servers.ts';
import type { BenchUser } from './signin-flow.ts';
import { signIn } from './signin-flow.ts';
import { setUpSignin } from './signin-setup.ts';

const CONCURRENCY = 4;
/** PostgreSQL publishes a backend's statistics within about a second when busy, 10 s when idle */
const STATS_SETTLE_MS = 11_500;

/** committed and rolled-back transactions of a database so far (each pool statement outside a transaction is one) */
async function transactions(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ x: string }>(
      'SELECT xact_commit + xact_rollback AS x FROM pg_stat_database WHERE datname = current_database()',
    );
    return Number(rows[0]?.x ?? 0);
  } finally {
    await c.end();
  }
}

interface StatementCounts {
  wal: number;
  byQuery: Map<string, number>;
}

/** CPU ms so far of a private PostgreSQL: its postmaster (found by its port) and every process it started */
function postgresCpuMs(url: string): number {
  const port = new URL(url).port;
  const stat = (pid: string) => {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: f[1], ms: (Number(f[11]) + Number(f[12])) * 10 };
  };
  const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  let postmaster: string | undefined;
  for (const pid of pids) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('/postgres') && cmd[cmd.indexOf('-p') + 1] === port) postmaster = pid;
    } catch {
      // gone meanwhile
    }
  }
  if (postmaster === undefined) return 0;
  let ms = 0;
  for (const pid of pids) {
    try {
      const s = stat(pid);
      // exited backends' CPU is in the postmaster's cutime/cstime, not read here: the pool keeps its connections
      if (pid === postmaster || s.ppid === postmaster) ms += s.ms;
    } catch {
      // gone meanwhile
    }
  }
  return ms;
}

/**
 * pg_stat_statements of the product's database `name`, read where the private server created the
 * extension (its maintenance database), and the server's WAL position
 */
async function statements(name: string): Promise<StatementCounts> {
  const c = new pg.Client({ connectionString: adminUrl() });
  await c.connect();
  try {
    const { rows } = await c.query<{ query: string; calls: string }>(
      `SELECT query, calls FROM pg_stat_statements
       WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND query NOT LIKE '%pg_stat_%'
         AND query NOT LIKE '%pg_current_wal_lsn%'`,
      [name],
    );
    const wal = await c.query<{ wal: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS wal`);
    const byQuery = new Map<string, number>();
    for (const r of rows) byQuery.set(r.query, (byQuery.get(r.query) ?? 0) + Number(r.calls));
    return { wal: Number(wal.rows[0]?.wal ?? 0), byQuery };
  } finally {
    await c.end();
  }
}

function printStatements(before: StatementCounts, after: StatementCounts, flows: number) {
  const rows = [...after.byQuery]
    .map(([q, n]) => [q, (n - (before.byQuery.get(q) ?? 0)) / flows] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((s, [, n]) => s + n, 0);
  console.log(
    `statements per flow: ${total.toFixed(2)}, WAL ${((after.wal - before.wal) / flows / 1024).toFixed(2)} KiB/flow`,
  );
  for (const [q, n] of rows) console.log(`  ${n.toFixed(2).padStart(6)}  ${q.replace(/\s+/g, ' ').slice(0, 150)}`);
}

async function main() {
  const flows = Number(process.argv[2] ?? 200);
  const warmup = Number(process.argv[3] ?? 40);
  const dir = process.env.SIGNIN_PROFILE_DIR ?? mkdtempSync(join(tmpdir(), 'signin-prof-'));
  const options = readOptions();
  const profiling = process.env.SIGNIN_PROFILE !== '0';
  let privatePg: PrivateServer | undefined;
  if (process.env.SIGNIN_PROFILE_STATEMENTS === '1') {
    privatePg = await startPrivatePostgres();
    process.env.BENCH_PG_ADMIN_URL = privatePg.url;
  }
  const target = await startIdp('idp-pg-profile', 'pg', {
    RATE_LIMIT_SIGNIN_IP: '1000000',
    RATE_LIMIT_SIGNIN_ACCOUNT: '1000000',
    RATE_LIMIT_ADMIN: '1000000',
    ...options.idpEnv,
    ...(profiling ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir} --cpu-prof-interval=250` } : {}),
  });
  try {
    const { client, users } = await setUpSignin(target, 16);
    let turn = 0;
    const nextUser = () => users[turn++ % users.length] as BenchUser;
    const run = async (n: number) => {
      let started = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (started < n) {
            started++;
            await signIn(client, nextUser());
          }
        }),
      );
    };
    await run(warmup);
    const db = target.database?.url;
    await sleep(STATS_SETTLE_MS);
    const xactsBefore = db ? await transactions(db) : undefined;
    const statementsBefore = target.database && privatePg ? await statements(target.database.name) : undefined;
    const from = Number(process.hrtime.bigint() / 1000n);
    const before = threadCpu(target.child.pid);
    const pgBefore = privatePg ? postgresCpuMs(privatePg.url) : 0;
    const wall = performance.now();
    await run(flows);
    const after = threadCpu(target.child.pid);
    const pgMs = privatePg ? (postgresCpuMs(privatePg.url) - pgBefore) / flows : undefined;
    const wallMs = performance.now() - wall;
    const to = Number(process.hrtime.bigint() / 1000n);
    const perThread = [...after.entries()]
      .map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / flows] as const)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1]);
    const total = perThread.reduce((s, [, v]) => s + v, 0);
    await sleep(STATS_SETTLE_MS);
    // our own reading before the run was one transaction
    const ours = 1;
    const xacts = db && xactsBefore !== undefined ? ((await transactions(db)) - xactsBefore - ours) / flows : undefined;
    if (target.database && statementsBefore)
      printStatements(statementsBefore, await statements(target.database.name), flows);
    console.log(`database transactions per flow: ${xacts?.toFixed(2)}`);
    console.log(`flows ${flows}, wall ${(wallMs / flows).toFixed(1)} ms/flow (loaded machine: ignore)`);
    if (pgMs !== undefined)
      console.log(`PostgreSQL CPU per flow (private server, every process): ${pgMs.toFixed(2)} ms`);
    console.log(`server CPU per flow: ${total.toFixed(2)} ms; by thread:`);
    for (const [k, v] of perThread) console.log(`  ${v.toFixed(2).padStart(7)} ms  ${k}`);
    await target.child.stop(60_000);
    if (!profiling) return;
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${dir}`);
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const s = summarizeProfile(profile, from, to, flows, 'flow');
    console.log(`\nmain-thread JS profile, window only: ${s.totalMsPerOp.toFixed(2)} ms/flow (non-idle samples)`);
    console.log(`\nself time by package/file:\n${s.files}`);
    console.log(`\nself time by function:\n${s.functions}`);
    console.log(`\nprofile: ${join(dir, file)}`);
  } finally {
    await target.close();
    privatePg?.stop();
  }
}

await main();
