// Where a client-credentials token or an introspection costs server CPU: one server (the product
// on PostgreSQL as `npm start` runs it, or the bare oidc-provider baseline) started with
// `--cpu-prof`, a warm-up, then N requests at the bench's concurrency, the CPU of each server
// thread read from /proc around them and the profile's samples inside that window summed by
// function and by file. Run:
//   node --experimental-strip-types test/bench/token-profile.ts [idp-pg|baseline] [tokens|introspection] [requests=20000] [warmup=5000]
// Environment: BENCH_IDP_ENV as for `npm run bench`; TOKEN_PROFILE_DIR keeps the .cpuprofile;
// TOKEN_PROFILE=0 runs without the profiler, CPU figures only.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CpuProfile, summarizeProfile, threadCpu } from './cpu-profile.ts';
import { startIdp } from './idp-target.ts';
import { runLoad } from './load.ts';
import { readOptions } from './options.ts';
import { type Scenario, scenarioRequest } from './run-target.ts';
import { startBareWith, type Target } from './targets.ts';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}
interface HeapProfile {
  head: HeapNode;
  samples: { size: number; nodeId: number }[];
}

/** bytes allocated per request by allocating function, and by the nearest frame of ours or of a package */
function allocations(profile: HeapProfile, requests: number): void {
  const byFunction = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, '');
    const key = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  console.log(`allocated per request (sampled, garbage included): ${(total / requests).toFixed(0)} bytes`);
  for (const [k, v] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 50))
    console.log(`${(v / requests).toFixed(0).padStart(7)} B/req  ${k}`);
}

async function main() {
  const kind = process.argv[2] ?? 'idp-pg';
  const scenario = (process.argv[3] ?? 'tokens') as Scenario;
  const requests = Number(process.argv[4] ?? 20_000);
  const warmup = Number(process.argv[5] ?? 5_000);
  if (kind !== 'idp-pg' && kind !== 'baseline') throw new Error(`unknown target ${kind}: idp-pg or baseline`);
  if (scenario !== 'tokens' && scenario !== 'introspection') throw new Error(`unknown scenario ${scenario}`);
  const options = readOptions();
  const dir = process.env.TOKEN_PROFILE_DIR ?? mkdtempSync(join(tmpdir(), 'token-prof-'));
  const heap = process.env.TOKEN_PROFILE === 'heap';
  const profiling = process.env.TOKEN_PROFILE !== '0' && !heap;
  const heapOut = join(dir, 'allocations.json');
  const sampler = join(import.meta.dirname, 'heap-sampler.ts');
  const nodeOptions = heap
    ? {
        NODE_OPTIONS: `--experimental-strip-types --disable-warning=ExperimentalWarning --import=${sampler}`,
        HEAP_PROFILE_OUT: heapOut,
      }
    : profiling
      ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir} --cpu-prof-interval=250` }
      : {};
  const target: Target =
    kind === 'baseline'
      ? await startBareWith('baseline-profile', nodeOptions)
      : await startIdp('idp-pg-profile', 'pg', { ...options.idpEnv, ...nodeOptions });
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  try {
    const { req, marker } = await scenarioRequest(target, scenario);
    const warm = await runLoad(agent, req, { concurrency: options.concurrency, count: warmup, marker });
    if (warm.errors > 0) throw new Error(`warm-up: ${warm.errors} errors, first: ${warm.firstError}`);
    const from = Number(process.hrtime.bigint() / 1000n);
    if (heap) {
      process.kill(target.child.pid, 'SIGUSR2');
      await sleep(500);
    }
    const before = threadCpu(target.child.pid);
    const run = await runLoad(agent, req, { concurrency: options.concurrency, count: requests, marker });
    const after = threadCpu(target.child.pid);
    const to = Number(process.hrtime.bigint() / 1000n);
    if (run.errors > 0) throw new Error(`${run.errors} errors, first: ${run.firstError}`);
    const perThread = [...after.entries()]
      .map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / requests] as const)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1]);
    const total = perThread.reduce((s, [, v]) => s + v, 0);
    console.log(`${kind} ${scenario}: ${((run.ok / run.elapsedMs) * 1e3).toFixed(0)}/s (profiler on: slower)`);
    console.log(`server CPU per request: ${total.toFixed(3)} ms; by thread:`);
    for (const [k, v] of perThread) console.log(`  ${v.toFixed(3).padStart(7)} ms  ${k}`);
    if (heap) {
      process.kill(target.child.pid, 'SIGUSR2');
      for (let i = 0; i < 600 && !existsSync(heapOut); i++) await sleep(100);
      await sleep(1000);
      allocations(JSON.parse(readFileSync(heapOut, 'utf8')) as HeapProfile, requests);
    }
    await target.child.stop(60_000);
    if (!profiling) return;
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${dir}`);
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const s = summarizeProfile(profile, from, to, requests, 'req');
    console.log(`\nmain-thread JS profile, window only: ${s.totalMsPerOp.toFixed(3)} ms/req (non-idle samples)`);
    console.log(`\nself time by package/file:\n${s.files}`);
    console.log(`\nself time by function:\n${s.functions}`);
    const perReq = Object.fromEntries([...s.byFunction].map(([k, v]) => [k, v / requests]));
    writeFileSync(join(dir, 'by-function.json'), JSON.stringify(perReq));
    console.log(`\nprofile: ${join(dir, file)}; self time per request by function: ${join(dir, 'by-function.json')}`);
  } finally {
    agent.destroy();
    await target.close();
  }
}

await main();
