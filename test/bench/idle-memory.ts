// Idle resident memory of the product, measured as `npm run bench` measures it: the product
// started as `npm start` runs it on a fresh PostgreSQL database, one API and one client registered
// through the admin API, a second of quiet, then VmRSS from /proc. RSS varies by a few MiB from
// one start to the next, so it starts the product several times and prints the median.
//
//   node --experimental-strip-types test/bench/idle-memory.ts [idp-pg|idp-pg-redis] [starts] [--detail]
//
// idp-pg-redis sets REDIS_URL (IDLE_REDIS_URL, default redis://127.0.0.1:6379). --detail also
// prints, for the last start, V8's heap figures and the modules the server has loaded (a probe
// preloaded with --import, so that start's RSS is a little higher and is not counted), and
// writes a heap snapshot of it (IDLE_HEAP_SNAPSHOT=path) to read in Chrome's DevTools.
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { residentBytes } from './children.ts';
import { type IdpTarget, startIdp } from './idp-target.ts';

const args = process.argv.slice(2);
const detail = args.includes('--detail');
const [kind = 'idp-pg', startsArg = '3'] = args.filter((a) => !a.startsWith('--'));
if (kind !== 'idp-pg' && kind !== 'idp-pg-redis') throw new Error(`unknown target ${kind}: idp-pg or idp-pg-redis`);
const starts = Number(startsArg);
if (!Number.isInteger(starts) || starts < 1) throw new Error(`starts must be a positive integer, not ${startsArg}`);
const extraEnv: NodeJS.ProcessEnv =
  kind === 'idp-pg-redis' ? { REDIS_URL: process.env.IDLE_REDIS_URL ?? 'redis://127.0.0.1:6379' } : {};

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const quiet = () => new Promise((resolve) => setTimeout(resolve, 1_000));

/** Idle RSS of one start, after the bench's second of quiet. */
async function measure(env: NodeJS.ProcessEnv): Promise<{ target: IdpTarget; rss: number }> {
  const target = await startIdp(kind, 'pg', env);
  await quiet();
  const rss = residentBytes(target.child.pid);
  if (rss === undefined) throw new Error('no /proc: RSS cannot be read on this system');
  return { target, rss };
}

const samples: number[] = [];
for (let i = 0; i < starts; i++) {
  const { target, rss } = await measure(extraEnv);
  await target.close();
  samples.push(rss);
  console.log(`start ${i + 1}: ${mib(rss)}`);
}
const sorted = [...samples].sort((a, b) => a - b);
console.log(`${kind} idle RSS: median ${mib(sorted[Math.floor(sorted.length / 2)] ?? 0)} of ${starts} starts`);

if (detail) {
  const report = join(tmpdir(), `idle-memory-${process.pid}.json`);
  const snapshot = process.env.IDLE_HEAP_SNAPSHOT;
  // Runs inside the server: records every module it loads (CommonJS and ESM alike, through the
  // resolve hook), and on SIGUSR2 writes V8's figures, that list and, if asked, a heap snapshot.
  const probe = `
    import { registerHooks } from 'node:module';
    import { writeFileSync } from 'node:fs';
    import v8 from 'node:v8';
    const loaded = new Set();
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.add(r.url); return r; } });
    process.on('SIGUSR2', () => {
      ${snapshot ? `v8.writeHeapSnapshot(${JSON.stringify(snapshot)});` : ''}
      writeFileSync(${JSON.stringify(report)}, JSON.stringify({
        memory: process.memoryUsage(),
        heap: v8.getHeapStatistics(),
        spaces: v8.getHeapSpaceStatistics(),
        code: v8.getHeapCodeStatistics(),
        modules: [...loaded],
      }));
    });`;
  const nodeOptions = [process.env.NODE_OPTIONS, `--import=data:text/javascript,${encodeURIComponent(probe)}`];
  const { target, rss } = await measure({ ...extraEnv, NODE_OPTIONS: nodeOptions.filter(Boolean).join(' ') });
  try {
    process.kill(target.child.pid, 'SIGUSR2');
    let text: string | undefined;
    for (let i = 0; i < 600 && text === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      text = await readFile(report, 'utf8').catch(() => undefined);
    }
    if (text === undefined) throw new Error('the server wrote no report');
    const data = JSON.parse(text) as {
      memory: NodeJS.MemoryUsage;
      heap: Record<string, number>;
      spaces: Array<{ space_name: string; space_used_size: number; physical_space_size: number }>;
      code: Record<string, number>;
      modules: string[];
    };
    console.log(`\nwith the probe: RSS ${mib(rss)}`);
    for (const [key, value] of Object.entries(data.memory)) console.log(`  memoryUsage.${key}: ${mib(value)}`);
    for (const s of data.spaces)
      console.log(`  ${s.space_name}: used ${mib(s.space_used_size)}, physical ${mib(s.physical_space_size)}`);
    for (const [key, value] of Object.entries(data.code)) console.log(`  code.${key}: ${mib(value)}`);
    // modules per package (node_modules/<name> or @scope/name), then the product's own files
    const perPackage = new Map<string, number>();
    for (const url of data.modules) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
      const key = match?.[1] ?? (url.includes('/dist/') ? '(product)' : url.replace(/^(node:[^/]+).*$/, '$1'));
      perPackage.set(key, (perPackage.get(key) ?? 0) + 1);
    }
    console.log(`  modules: ${data.modules.length}`);
    for (const [name, count] of [...perPackage].sort((a, b) => b[1] - a[1]))
      if (!name.startsWith('node:')) console.log(`    ${String(count).padStart(4)} ${name}`);
    if (process.env.IDLE_MODULES) console.log(data.modules.join('\n'));
    if (snapshot) console.log(`heap snapshot: ${snapshot}`);
  } finally {
    await target.close();
    await rm(report, { force: true });
  }
}
