// Reading a Node.js CPU profile (`--cpu-prof`) and a process's per-thread CPU from /proc, for the
// profile drivers (signin-profile.ts, token-profile.ts).
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ on Linux

/** CPU ms per thread name (comm), from /proc/<pid>/task/<tid>/stat */
export function threadCpu(pid: number): Map<string, number> {
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
export interface CpuProfile {
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
export function summarizeProfile(profile: CpuProfile, fromUs: number, toUs: number, ops: number, unit: string) {
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
      .map(([k, v]) => `${(v / ops).toFixed(3).padStart(7)} ms/${unit}  ${k}`)
      .join('\n');
  return { totalMsPerOp: total / ops, functions: top(fn, 40), files: top(file, 30), byFunction: fn };
}
