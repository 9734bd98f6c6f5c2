// Instructions per client-credentials token or introspection, counted by valgrind's callgrind in
// the server process (every thread: main, compiler, GC helpers). Unlike seconds, instruction
// counts do not move with whatever else the machine is doing, so two configurations can be
// compared on a shared, noisy machine. The server runs under valgrind (about 50× slower) with
// counting off during start-up and warm-up; then each window zeroes the counters, sends N
// requests at the bench's concurrency and dumps. Run:
//   node --experimental-strip-types test/bench/token-instructions.ts [idp-pg|baseline] [tokens|introspection] [requests=1000] [warmup=3000] [windows=3]
// Environment: BENCH_IDP_ENV as for `npm run bench`. Needs valgrind (Debian's package).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdp } from './idp-target.ts';
import { runLoad } from './load.ts';
import { readOptions } from './options.ts';
import { type Scenario, scenarioRequest } from './run-target.ts';
import { startBareWith, type Target } from './targets.ts';

const control = (pid: number, ...args: string[]) =>
  execFileSync('callgrind_control', [...args, String(pid)], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** the `summary:` (or `totals:`) line of a callgrind dump: instructions executed in it */
function dumpTotal(file: string): number {
  const text = readFileSync(file, 'utf8');
  const line = /^(?:summary|totals): (\d+)/m.exec(text);
  if (!line) throw new Error(`no totals in ${file}`);
  return Number(line[1]);
}

async function main() {
  const kind = process.argv[2] ?? 'idp-pg';
  const scenario = (process.argv[3] ?? 'tokens') as Scenario;
  const requests = Number(process.argv[4] ?? 1_000);
  const warmup = Number(process.argv[5] ?? 3_000);
  const windows = Number(process.argv[6] ?? 3);
  if (kind !== 'idp-pg' && kind !== 'baseline') throw new Error(`unknown target ${kind}: idp-pg or baseline`);
  if (scenario !== 'tokens' && scenario !== 'introspection') throw new Error(`unknown scenario ${scenario}`);
  const options = readOptions();
  const dir = mkdtempSync(join(tmpdir(), 'token-instr-'));
  const wrapper = {
    BENCH_NODE_WRAPPER: `valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=${join(dir, 'cg.%p')}`,
  };
  const target: Target =
    kind === 'baseline'
      ? await startBareWith('baseline-instructions', wrapper)
      : await startIdp('idp-pg-instructions', 'pg', { ...options.idpEnv, ...wrapper });
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  try {
    const pid = target.child.pid;
    const { req, marker } = await scenarioRequest(target, scenario);
    const warm = await runLoad(agent, req, { concurrency: options.concurrency, count: warmup, marker });
    if (warm.errors > 0) throw new Error(`warm-up: ${warm.errors} errors, first: ${warm.firstError}`);
    control(pid, '-i', 'on');
    const perRequest: number[] = [];
    for (let w = 0; w < windows; w++) {
      const seen = new Set(readdirSync(dir));
      control(pid, '-z');
      const run = await runLoad(agent, req, { concurrency: options.concurrency, count: requests, marker });
      if (run.errors > 0) throw new Error(`${run.errors} errors, first: ${run.firstError}`);
      control(pid, '-d');
      const file = readdirSync(dir).find((f) => !seen.has(f));
      if (!file) throw new Error(`callgrind wrote no dump in ${dir}`);
      perRequest.push(dumpTotal(join(dir, file)) / requests);
    }
    const sorted = [...perRequest].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    console.log(
      `${kind} ${scenario}: ${(median / 1e3).toFixed(1)} k instructions per request (median of ${windows} windows of ${requests}: ${perRequest.map((n) => (n / 1e3).toFixed(1)).join(', ')})`,
    );
  } finally {
    agent.destroy();
    await target.child.stop(60_000);
    await target.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
