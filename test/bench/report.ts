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

/**
 * One scenario on one target, as every section of the bench reports it (tokens, introspection,
 * sign-ins): throughput against a same-run reference, latency, and what one operation costs in
 * CPU and in the stores. Counts (statements, WAL, Redis) do not move with the machine's load;
 * a regression shows there first.
 */
export interface ScenarioRow {
  readonly scenario: string;
  readonly target: string;
  /** operations per second, median over rounds */
  readonly opsPerSecond: number;
  /** what the ratio compares with, e.g. "baseline 2,300/s" or "argon2 ceiling 90/s" */
  readonly reference: string;
  /** median of per-round ratios to the reference */
  readonly ratio: number | undefined;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** server CPU milliseconds per operation, median over rounds */
  readonly cpuPerOpMs: number | undefined;
  readonly statements: number | undefined;
  readonly walBytes: number | undefined;
  readonly redisCommands: number | undefined;
  readonly redisRoundTrips: number | undefined;
}

/** One row per scenario and target: the table docs/scaling.md quotes. */
export function formatScenarioTable(rows: readonly ScenarioRow[]): string {
  const header = [
    'scenario',
    'target',
    'ops/s',
    'reference',
    'ratio',
    'p50 ms',
    'p99 ms',
    'CPU ms/op',
    'SQL/op',
    'WAL B/op',
    'Redis cmd/op',
    'Redis RT/op',
  ];
  const cells = rows.map((r) => [
    r.scenario,
    r.target,
    fixed(r.opsPerSecond, 0),
    r.reference,
    fixed(r.ratio, 2),
    fixed(r.p50Ms, 2),
    fixed(r.p99Ms, 2),
    fixed(r.cpuPerOpMs, 3),
    fixed(r.statements, 2),
    fixed(r.walBytes, 0),
    fixed(r.redisCommands, 2),
    fixed(r.redisRoundTrips, 2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (c: string[]) =>
    c.map((x, i) => (i < 2 || i === 3 ? x.padEnd(widths[i] ?? 0) : x.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
