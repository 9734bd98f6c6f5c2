import { join } from 'node:path';
import { spawnEntry } from './targets.ts';

export interface Argon2Ceiling {
  readonly verifiesPerSecond: number;
  readonly verifies: number;
  readonly elapsedMs: number;
  /** CPU per verification, the pool's threads included */
  readonly cpuMsPerVerify: number;
  readonly concurrency: number;
  readonly threadPool: string;
  readonly params: { memoryCost: number; timeCost: number; parallelism: number };
}

/**
 * The most password sign-ins the machine could do: argon2id verifications per second at the
 * product's parameters, in a child process started like the server (same node flags, same
 * environment, so the same libuv thread pool), with more verifications in flight than the pool
 * has threads so it never idles.
 */
export async function measureArgon2Ceiling(options: {
  seconds: number;
  concurrency: number;
  warmupSeconds: number;
}): Promise<Argon2Ceiling> {
  const child = spawnEntry('argon2-ceiling', join('test', 'bench', 'argon2-ceiling-worker.ts'), {
    ...process.env,
    BENCH_ARGON2: `${options.seconds},${options.concurrency},${options.warmupSeconds}`,
  });
  try {
    const line = await child.waitForLine(
      (l) => l.startsWith('{"verifiesPerSecond":'),
      (options.warmupSeconds + options.seconds + 30) * 1e3,
    );
    return JSON.parse(line) as Argon2Ceiling;
  } finally {
    await child.stop();
  }
}
