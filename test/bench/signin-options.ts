/**
 * The password sign-in section of `npm run bench` (see signin-bench.ts), from the environment:
 * BENCH_SIGNIN (1; 0 skips it), BENCH_SIGNIN_SECONDS (10), BENCH_SIGNIN_WARMUP_SECONDS (3),
 * BENCH_SIGNIN_ROUNDS (3), BENCH_SIGNIN_CONCURRENCY (12 flows in flight),
 * BENCH_SIGNIN_TOKEN_CONCURRENCY (8 client-credentials requests in flight meanwhile; 0: sign-ins
 * alone), BENCH_SIGNIN_USERS (64), BENCH_ARGON2_SECONDS (4), BENCH_ARGON2_CONCURRENCY (8),
 * BENCH_SIGNIN_COST_FLOWS (40 flows counted alone after the rounds, for the cost per flow; 0 skips it).
 */
export interface SigninOptions {
  readonly enabled: boolean;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly concurrency: number;
  readonly tokenConcurrency: number;
  readonly users: number;
  readonly argon2Seconds: number;
  readonly argon2Concurrency: number;
  readonly costFlows: number;
}

function numberFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name}: must be a number >= ${min}, got ${raw}`);
  return value;
}

export function readSigninOptions(env: NodeJS.ProcessEnv = process.env): SigninOptions {
  const enabled = env.BENCH_SIGNIN ?? '1';
  if (enabled !== '0' && enabled !== '1') throw new Error(`BENCH_SIGNIN: must be 0 or 1, got ${enabled}`);
  const int = (name: string, fallback: number, min: number) => Math.round(numberFrom(env, name, fallback, min));
  return {
    enabled: enabled === '1',
    seconds: numberFrom(env, 'BENCH_SIGNIN_SECONDS', 10, 1),
    warmupSeconds: numberFrom(env, 'BENCH_SIGNIN_WARMUP_SECONDS', 3, 0),
    rounds: int('BENCH_SIGNIN_ROUNDS', 3, 1),
    concurrency: int('BENCH_SIGNIN_CONCURRENCY', 12, 1),
    tokenConcurrency: int('BENCH_SIGNIN_TOKEN_CONCURRENCY', 8, 0),
    users: int('BENCH_SIGNIN_USERS', 64, 1),
    argon2Seconds: numberFrom(env, 'BENCH_ARGON2_SECONDS', 4, 1),
    // more than the pool's 4 threads, so a thread never waits for the event loop to hand it work
    argon2Concurrency: int('BENCH_ARGON2_CONCURRENCY', 8, 1),
    costFlows: int('BENCH_SIGNIN_COST_FLOWS', 40, 0),
  };
}
