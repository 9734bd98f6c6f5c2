// Where a password sign-in's server CPU goes: one product server (idp-pg, `npm start`'s command)
// started with `--cpu-prof`, N complete sign-ins driven against it after a warm-up, the CPU of
// each server thread read from /proc before and after (the main thread is our JavaScript, the
// libuv pool threads are argon2 and WebCrypto), then the profile's samples inside the measured
// window summed by function and by file. Run:
//   node --experimental-strip-types test/bench/signin-profile.ts [flows=200] [warmup=40]
// Environment: BENCH_IDP_ENV as for `npm run bench`; SIGNIN_PROFILE_DIR keeps the .cpuprofile;
// SIGNIN_PROFILE=0 runs without the profiler (its sampling thread and overhead), CPU figures only.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startIdp } from './idp-target.ts';
import { readOptions } from './options.ts';
import type { BenchUser } from './signin-flow.ts';
import { signIn } from './signin-flow.ts';
import { setUpSignin } from './signin-setup.ts';

const CONCURRENCY = 4;
const TICK_MS = 10; // USER_HZ on Linux
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

/** CPU ms per thread name (comm), from /proc/<pid>/task/<tid>/stat */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = Number(tid) === pid ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(f[11]) + Number(f[12])) * TICK_MS;
      out.set(name, (out.get(name) ?? 0) + ms);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 13);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 6);
  return url || '(native)';
}

/** self time (ms) by function and by file (package for node_modules), samples between from and to (µs, monotonic) */
function summarize(profile: CpuProfile, fromUs: number, toUs: number, flows: number) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const next = profile.timeDeltas[i + 1] ?? 0;
    if (t < fromUs || t > toUs) continue;
    const node = byId.get(profile.samples[i] as number);
    if (!node) continue;
    const ms = next / 1000;
    if (node.callFrame.functionName === '(idle)') continue;
    total += ms;
    const u = shortUrl(node.callFrame.url);
    const key = `${node.callFrame.functionName || '(anonymous)'} ${u}:${node.callFrame.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + ms);
    const pkg = u.startsWith('@')
      ? u.split('/').slice(0, 2).join('/')
      : u.includes('/') && !u.startsWith('src/')
        ? u.split('/')[0]
        : u;
    file.set(pkg ?? u, (file.get(pkg ?? u) ?? 0) + ms);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${(v / flows).toFixed(3).padStart(7)} ms/flow  ${k}`)
      .join('\n');
  return { totalMsPerFlow: total / flows, functions: top(fn, 40), files: top(file, 30) };
}

async function main() {
  const flows = Number(process.argv[2] ?? 200);
  const warmup = Number(process.argv[3] ?? 40);
  const dir = process.env.SIGNIN_PROFILE_DIR ?? mkdtempSync(join(tmpdir(), 'signin-prof-'));
  const options = readOptions();
  const profiling = process.env.SIGNIN_PROFILE !== '0';
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
    const from = Number(process.hrtime.bigint() / 1000n);
    const before = threadCpu(target.child.pid);
    const wall = performance.now();
    await run(flows);
    const after = threadCpu(target.child.pid);
    const wallMs = performance.now() - wall;
    const to = Number(process.hrtime.bigint() / 1000n);
    const perThread = [...after.entries()]
      .map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / flows] as const)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1]);
    const total = perThread.reduce((s, [, v]) => s + v, 0);
    await sleep(STATS_SETTLE_MS);
    // our own reading before the run was one transaction
    const xacts = db && xactsBefore !== undefined ? ((await transactions(db)) - xactsBefore - 1) / flows : undefined;
    console.log(`database transactions per flow: ${xacts?.toFixed(2)}`);
    console.log(`flows ${flows}, wall ${(wallMs / flows).toFixed(1)} ms/flow (loaded machine: ignore)`);
    console.log(`server CPU per flow: ${total.toFixed(2)} ms; by thread:`);
    for (const [k, v] of perThread) console.log(`  ${v.toFixed(2).padStart(7)} ms  ${k}`);
    await target.child.stop(60_000);
    if (!profiling) return;
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${dir}`);
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const s = summarize(profile, from, to, flows);
    console.log(`\nmain-thread JS profile, window only: ${s.totalMsPerFlow.toFixed(2)} ms/flow (non-idle samples)`);
    console.log(`\nself time by package/file:\n${s.files}`);
    console.log(`\nself time by function:\n${s.functions}`);
    console.log(`\nprofile: ${join(dir, file)}`);
  } finally {
    await target.close();
  }
}

await main();
