import { performance } from 'node:perf_hooks';
import { type BenchUser, type SigninClient, signIn } from './signin-flow.ts';

export interface SigninLoadResult {
  /** complete flows: an ID token came back */
  readonly ok: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly elapsedMs: number;
  /** per complete flow, first request to ID token */
  readonly latenciesMs: number[];
  /** the first complete flow, kept to verify its ID token */
  readonly sample: { idToken: string; nonce: string; userId: string } | undefined;
}

/**
 * Closed-loop sign-ins, like runLoad in load.ts: `concurrency` simulated browsers each sign a user
 * in and start again at once, until `durationMs` has passed; flows under way then finish and
 * count, over the time until the last one did. Users are taken in turn, so load spreads over
 * every account and none approaches a per-account limit.
 */
export async function runSignins(
  client: SigninClient,
  nextUser: () => BenchUser,
  options: { concurrency: number; durationMs: number },
): Promise<SigninLoadResult> {
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let sample: SigninLoadResult['sample'];
  const start = performance.now();
  const deadline = start + options.durationMs;

  const browser = async () => {
    while (performance.now() < deadline) {
      const user = nextUser();
      const t0 = performance.now();
      try {
        const result = await signIn(client, user);
        latenciesMs.push(performance.now() - t0);
        sample ??= { idToken: result.idToken, nonce: result.nonce, userId: user.id };
      } catch (error) {
        errors++;
        firstError ??= `${user.username}: ${(error as Error).message}`;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, browser));
  return { ok: latenciesMs.length, errors, firstError, elapsedMs: performance.now() - start, latenciesMs, sample };
}
