// Child process of argon2-ceiling.ts: argon2.verify as fast as libuv's thread pool allows, at the
// product's parameters. A process of its own so nothing else competes for the pool or the event
// loop, and so its UV_THREADPOOL_SIZE is the server's (both inherit the bench's environment).
// BENCH_ARGON2="<seconds>,<concurrency>,<warm-up seconds>" (the environment, because the child is
// started with `npm start`'s node flags and no arguments). Prints one JSON line.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import argon2 from 'argon2';
import { OWASP_ARGON2ID } from '../../src/services/passwords.ts';

const settings = (process.env.BENCH_ARGON2 ?? '').split(',').map(Number);
const [seconds = 0, concurrency = 0, warmupSeconds = Number.NaN] = settings;
if (!(seconds > 0 && concurrency > 0 && warmupSeconds >= 0)) {
  throw new Error('BENCH_ARGON2: expected "<seconds>,<concurrency>,<warm-up seconds>"');
}

const password = randomBytes(16).toString('base64url');
// what the sign-in path verifies: a hash made by the product's own parameters
const hash = await argon2.hash(password, { type: argon2.argon2id, ...OWASP_ARGON2ID });

/** `concurrency` verifications always in flight until `ms` has passed; counts the completed ones. */
async function run(ms: number): Promise<{ verifies: number; elapsedMs: number }> {
  let verifies = 0;
  const start = performance.now();
  const deadline = start + ms;
  const worker = async () => {
    while (performance.now() < deadline) {
      // a wrong answer would mean we measured something else than a verification that succeeds
      if (!(await argon2.verify(hash, password))) throw new Error('argon2.verify refused the right password');
      verifies++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { verifies, elapsedMs: performance.now() - start };
}

if (warmupSeconds > 0) await run(warmupSeconds * 1e3);
const cpuBefore = process.cpuUsage();
const { verifies, elapsedMs } = await run(seconds * 1e3);
const cpu = process.cpuUsage(cpuBefore);
process.stdout.write(
  `${JSON.stringify({
    verifiesPerSecond: verifies / (elapsedMs / 1e3),
    verifies,
    elapsedMs,
    // the process's CPU (the pool's threads included) per verification: what one sign-in's hash costs
    cpuMsPerVerify: (cpu.user + cpu.system) / 1e3 / verifies,
    concurrency,
    threadPool: process.env.UV_THREADPOOL_SIZE ?? '4 (default)',
    params: OWASP_ARGON2ID,
  })}\n`,
);
