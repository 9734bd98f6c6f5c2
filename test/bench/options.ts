import { readSigninOptions, type SigninOptions } from './signin-options.ts';

/** What a bench run measures, from environment variables (the bench is a script, not the product). */
export interface BenchOptions {
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly concurrency: number;
  /** kinds in the order they run in each round; the first is the baseline of the ratios */
  readonly targets: readonly TargetKind[];
  readonly jsonPath: string | undefined;
  /** extra environment for the product, e.g. to lift a rate limit that would throttle the bench */
  readonly idpEnv: Readonly<Record<string, string>>;
  /** the password sign-in section (signin-bench.ts) */
  readonly signin: SigninOptions;
  /** introspection rounds beside the token rounds (baseline and the PostgreSQL targets) */
  readonly introspection: boolean;
  /** requests over which the per-request costs (SQL, WAL, Redis) are counted */
  readonly costRequests: number;
  /** a private PostgreSQL and Redis for the targets (exact counts on a shared machine) */
  readonly privateServers: boolean;
}

export const TARGET_KINDS = ['baseline', 'idp-pg', 'idp-pg-redis', 'idp-embedded'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

function flag(name: string, fallback: boolean, env: NodeJS.ProcessEnv): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw !== '0' && raw !== '1') throw new Error(`${name}: must be 0 or 1, got ${raw}`);
  return raw === '1';
}

function positive(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}: must be a positive number, got ${raw}`);
  return value;
}

export function readOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  // empty: no token section (BENCH_TARGETS= with the sign-in section alone)
  const targets = (env.BENCH_TARGETS ?? TARGET_KINDS.join(','))
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of targets) {
    if (!(TARGET_KINDS as readonly string[]).includes(t)) {
      throw new Error(`BENCH_TARGETS: unknown target ${t}; known: ${TARGET_KINDS.join(', ')}`);
    }
  }
  const idpEnv: Record<string, string> = {};
  for (const pair of (env.BENCH_IDP_ENV ?? '').split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`BENCH_IDP_ENV: expected NAME=value pairs separated by spaces, got ${pair}`);
    idpEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const signin = readSigninOptions(env);
  if (targets.length === 0 && !signin.enabled)
    throw new Error('BENCH_TARGETS is empty and BENCH_SIGNIN=0: nothing to measure');
  return {
    seconds: positive('BENCH_SECONDS', 10, env),
    warmupSeconds: positive('BENCH_WARMUP_SECONDS', 2, env),
    rounds: Math.round(positive('BENCH_ROUNDS', 3, env)),
    concurrency: Math.round(positive('BENCH_CONCURRENCY', 32, env)),
    targets: targets as TargetKind[],
    jsonPath: env.BENCH_JSON || undefined,
    idpEnv,
    signin,
    introspection: flag('BENCH_INTROSPECTION', true, env),
    costRequests: Math.round(positive('BENCH_COST_REQUESTS', 1000, env)),
    privateServers: flag('BENCH_PRIVATE_SERVERS', true, env),
  };
}
