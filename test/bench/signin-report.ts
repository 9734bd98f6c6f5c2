import { median } from './report.ts';
import type { SigninCosts } from './signin-costs.ts';

/** One round of the sign-in section: the argon2 ceiling, then sign-ins and tokens at the same time. */
export interface SigninRound {
  readonly round: number;
  /** argon2id verifications per second in a process of their own, the server idle */
  readonly argon2PerSecond: number;
  readonly signinsPerSecond: number;
  /** complete flows (ID token received) in the measured run */
  readonly signins: number;
  /** failed flows, warm-up included */
  readonly signinErrors: number;
  readonly firstSigninError: string | undefined;
  readonly flowP50Ms: number;
  readonly flowP99Ms: number;
  /** undefined when no token load ran beside the sign-ins */
  readonly tokensPerSecond: number | undefined;
  readonly tokenP50Ms: number | undefined;
  readonly tokenP99Ms: number | undefined;
  readonly tokenErrors: number;
  readonly firstTokenError: string | undefined;
  readonly serverCpuPercent: number | undefined;
  readonly generatorCpuPercent: number;
  /** share of all cores busy (server, database, generator, neighbours): near 100, the machine was the limit */
  readonly machineCpuPercent: number | undefined;
  /** server's peak resident memory during this round's load (warm-up included) */
  readonly peakRssBytes: number | undefined;
}

export interface SigninSummary {
  readonly argon2PerSecond: number;
  readonly signinsPerSecond: number;
  /** median over rounds of sign-ins/s divided by the argon2 ceiling of the same round */
  readonly ratio: number;
  readonly flowP50Ms: number;
  readonly flowP99Ms: number;
  readonly tokensPerSecond: number | undefined;
  readonly tokenP99Ms: number | undefined;
  readonly signinErrors: number;
  readonly tokenErrors: number;
  readonly serverCpuPercent: number | undefined;
  readonly machineCpuPercent: number | undefined;
  readonly idleRssMiB: number | undefined;
  readonly peakRssMiB: number | undefined;
  /** what one flow costs, counted alone after the rounds (signin-costs.ts) */
  readonly costs: SigninCosts | undefined;
}

const defined = (values: readonly (number | undefined)[]) => values.filter((v) => v !== undefined);
const medianOrUndefined = (values: readonly (number | undefined)[]) => {
  const present = defined(values);
  return present.length === 0 ? undefined : median(present);
};
const mib = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 2 ** 20);

export function summarizeSignin(
  rounds: readonly SigninRound[],
  idleRssBytes: number | undefined,
  costs?: SigninCosts,
): SigninSummary {
  const peaks = defined(rounds.map((r) => r.peakRssBytes));
  return {
    argon2PerSecond: median(rounds.map((r) => r.argon2PerSecond)),
    signinsPerSecond: median(rounds.map((r) => r.signinsPerSecond)),
    // paired per round, as pairedRatio in report.ts: a drift of the machine moves both alike
    ratio: median(rounds.map((r) => r.signinsPerSecond / r.argon2PerSecond)),
    flowP50Ms: median(rounds.map((r) => r.flowP50Ms)),
    flowP99Ms: median(rounds.map((r) => r.flowP99Ms)),
    tokensPerSecond: medianOrUndefined(rounds.map((r) => r.tokensPerSecond)),
    tokenP99Ms: medianOrUndefined(rounds.map((r) => r.tokenP99Ms)),
    signinErrors: rounds.reduce((n, r) => n + r.signinErrors, 0),
    tokenErrors: rounds.reduce((n, r) => n + r.tokenErrors, 0),
    serverCpuPercent: medianOrUndefined(rounds.map((r) => r.serverCpuPercent)),
    machineCpuPercent: medianOrUndefined(rounds.map((r) => r.machineCpuPercent)),
    idleRssMiB: mib(idleRssBytes),
    peakRssMiB: mib(peaks.length > 0 ? Math.max(...peaks) : undefined),
    costs,
  };
}

const fixed = (n: number | undefined, digits: number) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));

/** One row per round, then the medians (the figures to quote), with the idle and peak RSS. */
export function formatSigninTable(rounds: readonly SigninRound[], summary: SigninSummary): string {
  const header = [
    'round',
    'argon2 verifies/s',
    'sign-ins/s',
    'ratio',
    'flow p50 ms',
    'flow p99 ms',
    'sign-in errors',
    'tokens/s',
    'token p99 ms',
    'token errors',
    'server CPU %',
    'machine busy %',
    'RSS idle MiB',
    'RSS peak MiB',
  ];
  const rows = rounds.map((r) => [
    String(r.round),
    fixed(r.argon2PerSecond, 1),
    fixed(r.signinsPerSecond, 1),
    fixed(r.signinsPerSecond / r.argon2PerSecond, 2),
    fixed(r.flowP50Ms, 0),
    fixed(r.flowP99Ms, 0),
    String(r.signinErrors),
    fixed(r.tokensPerSecond, 0),
    fixed(r.tokenP99Ms, 1),
    String(r.tokenErrors),
    fixed(r.serverCpuPercent, 0),
    fixed(r.machineCpuPercent, 0),
    '',
    fixed(mib(r.peakRssBytes), 0),
  ]);
  rows.push([
    'median',
    fixed(summary.argon2PerSecond, 1),
    fixed(summary.signinsPerSecond, 1),
    fixed(summary.ratio, 2),
    fixed(summary.flowP50Ms, 0),
    fixed(summary.flowP99Ms, 0),
    String(summary.signinErrors),
    fixed(summary.tokensPerSecond, 0),
    fixed(summary.tokenP99Ms, 1),
    String(summary.tokenErrors),
    fixed(summary.serverCpuPercent, 0),
    fixed(summary.machineCpuPercent, 0),
    fixed(summary.idleRssMiB, 0),
    fixed(summary.peakRssMiB, 0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const table = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const c = summary.costs;
  if (c) {
    table.push(
      `per flow, ${c.flows} flows alone: server CPU ${fixed(c.cpuMsPerFlow, 1)} ms (outside argon2 ${fixed(c.nonHashCpuMsPerFlow, 1)} ms), ` +
        `${fixed(c.statementsPerFlow, 1)} SQL statements, ${fixed(c.transactionsPerFlow, 1)} transactions, ` +
        `${fixed(c.walBytesPerFlow === undefined ? undefined : c.walBytesPerFlow / 1024, 1)} KiB WAL, ${fixed(c.redisCommandsPerFlow, 1)} Redis commands`,
    );
  }
  return table.join('\n');
}
