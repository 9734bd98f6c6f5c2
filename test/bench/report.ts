import { writeFile } from 'node:fs/promises';

/** One measured run of one target. */
export interface RoundResult {
  readonly round: number;
  readonly tokensPerSecond: number;
  readonly ok: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly peakRssBytes: number | undefined;
  /** CPU the load generator itself used, in % of one core: near 100 means the generator, not the server, is the limit */
  readonly generatorCpuPercent: number;
  /** CPU the server used, in % of one core: near 100 means its single event loop is saturated */
  readonly serverCpuPercent: number | undefined;
  /** tokens per second of server CPU: the cost of a token, steadier than tokens/s when cores are shared */
  readonly tokensPerCpuSecond: number | undefined;
}

export interface TargetSummary {
  readonly name: string;
  readonly verified: string | undefined;
  readonly idleRssBytes: number | undefined;
  readonly rounds: RoundResult[];
}

export interface Summary {
  readonly name: string;
  /** medians over rounds: one noisy round (a GC pause, a neighbour) does not move them */
  readonly tokensPerSecond: number;
  /** paired ratio to the first target (see pairedRatio) */
  readonly vsBase: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly serverCpuPercent: number | undefined;
  readonly tokensPerCpuSecond: number | undefined;
  readonly idleRssMiB: number | undefined;
  readonly peakRssMiB: number | undefined;
  readonly verified: string | undefined;
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * Median over rounds of `other / base` measured in the same round. The two runs of a round are
 * seconds apart, so a machine whose speed drifts (shared cores, thermal) moves both alike: this is
 * steadier than the ratio of the two medians, which may come from different rounds.
 */
export function pairedRatio(base: TargetSummary, other: TargetSummary): number {
  const ratios = base.rounds.flatMap((b, i) => {
    const o = other.rounds[i];
    return o && b.tokensPerSecond > 0 ? [o.tokensPerSecond / b.tokensPerSecond] : [];
  });
  return median(ratios);
}

const mib = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 2 ** 20);

/** `base` is the first target of the run: the ratio column compares every row with it. */
export function summarize(target: TargetSummary, base: TargetSummary): Summary {
  const peaks = target.rounds.map((r) => r.peakRssBytes).filter((b) => b !== undefined);
  return {
    name: target.name,
    tokensPerSecond: median(target.rounds.map((r) => r.tokensPerSecond)),
    vsBase: pairedRatio(base, target),
    p50Ms: median(target.rounds.map((r) => r.p50Ms)),
    p99Ms: median(target.rounds.map((r) => r.p99Ms)),
    errors: target.rounds.reduce((n, r) => n + r.errors, 0),
    tokensPerCpuSecond: median(
      target.rounds.flatMap((r) => (r.tokensPerCpuSecond === undefined ? [] : [r.tokensPerCpuSecond])),
    ),
    serverCpuPercent: median(
      target.rounds.flatMap((r) => (r.serverCpuPercent === undefined ? [] : [r.serverCpuPercent])),
    ),
    idleRssMiB: mib(target.idleRssBytes),
    peakRssMiB: mib(peaks.length > 0 ? Math.max(...peaks) : undefined),
    verified: target.verified,
  };
}

const fixed = (n: number | undefined, digits: number) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));

/** A plain-text table, one row per target, with each target's ratio to the first (the baseline). */
export function formatTable(summaries: readonly Summary[]): string {
  const header = [
    'target',
    'tokens/s',
    'vs base',
    'p50 ms',
    'p99 ms',
    'errors',
    'server CPU %',
    'tokens/CPU-s',
    'RSS idle MiB',
    'RSS peak MiB',
  ];
  const rows = summaries.map((s) => [
    s.name,
    fixed(s.tokensPerSecond, 0),
    fixed(s.vsBase, 2),
    fixed(s.p50Ms, 2),
    fixed(s.p99Ms, 2),
    String(s.errors),
    fixed(s.serverCpuPercent, 0),
    fixed(s.tokensPerCpuSecond, 0),
    fixed(s.idleRssMiB, 0),
    fixed(s.peakRssMiB, 0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export async function writeJson(path: string, data: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(data, null, 2)}\n`);
}
