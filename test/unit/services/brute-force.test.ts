import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { createLogger } from '../../../src/logger.ts';
import { createBruteForceProtection, loginDigest } from '../../../src/services/brute-force.ts';
import { createRateLimitStore, type Limiter, type RateLimitStore } from '../../../src/services/rate-limits.ts';

const KEY = randomBytes(32);

const store = () =>
  createRateLimitStore({ redisUrl: undefined, issuer: 'https://idp.test', log: createLogger('silent') });

describe('brute-force protection', () => {
  test('the delay doubles from the second failure, up to twenty times the first', async () => {
    const bf = createBruteForceProtection({
      store: await store(),
      digestKey: KEY,
      threshold: 100,
      accountThreshold: 0,
      lockoutSeconds: 60,
      delayMs: 100,
    });
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      const gate = await bf.check('Alice', '10.0.0.1');
      assert.equal(gate.locked, false);
      delays.push(gate.locked ? -1 : gate.delayMs);
      await bf.failed('Alice', '10.0.0.1');
    }
    assert.deepEqual(delays, [0, 0, 100, 200, 400, 800, 1600, 2000, 2000]);
    // a success from that address forgives it
    await bf.succeeded('alice', '10.0.0.1');
    assert.deepEqual(await bf.check('alice', '10.0.0.1'), { locked: false, delayMs: 0 });
  });

  test('locks the pair at the threshold and the account at the higher one; names compare case-insensitively', async () => {
    const bf = createBruteForceProtection({
      store: await store(),
      digestKey: KEY,
      threshold: 2,
      accountThreshold: 3,
      lockoutSeconds: 60,
      delayMs: 0,
    });
    assert.equal(await bf.failed('bob', '10.0.0.1'), undefined);
    assert.deepEqual(await bf.failed('BOB', '10.0.0.1'), { scope: 'account_ip', failures: 2 });
    assert.equal((await bf.check('bob', '10.0.0.1')).locked, true);
    assert.equal((await bf.check('bob', '10.0.0.2')).locked, false);
    // each address adds at most its share (a fifth of 3, so 1) to the account-wide count
    assert.equal(await bf.failed('bob', '10.0.0.2'), undefined);
    assert.deepEqual(await bf.failed('bob', '10.0.0.3'), { scope: 'account', failures: 3 });
    const gate = await bf.check('bob', '10.0.0.9');
    assert.equal(gate.locked && gate.scope, 'account');
    assert.ok(gate.locked && gate.retryAfter > 0 && gate.retryAfter <= 60);

    await bf.unlock(['Bob']);
    assert.equal((await bf.check('bob', '10.0.0.9')).locked, false);
    assert.equal((await bf.check('bob', '10.0.0.1')).locked, false, 'the pair lock is lifted too');
  });

  test('a threshold of 0 never locks', async () => {
    const bf = createBruteForceProtection({
      store: await store(),
      digestKey: KEY,
      threshold: 0,
      accountThreshold: 0,
      lockoutSeconds: 60,
      delayMs: 0,
    });
    for (let i = 0; i < 20; i++) assert.equal(await bf.failed('carol', '10.0.0.1'), undefined);
    assert.equal((await bf.check('carol', '10.0.0.1')).locked, false);
  });

  test('regression: one address cannot lock the account everywhere, however long it keeps guessing', async () => {
    const limits = await store();
    const bf = createBruteForceProtection({
      store: limits,
      digestKey: KEY,
      threshold: 1000,
      accountThreshold: 50,
      lockoutSeconds: 60,
      delayMs: 0,
      accountRate: limits.limiter({ name: 'signin_account', points: 10, windowSeconds: 60 }),
      accountRateWindowSeconds: 60,
    });
    for (let i = 0; i < 200; i++) assert.equal(await bf.failed('dave', '10.0.0.1'), undefined);
    assert.equal((await bf.check('dave', '10.0.0.1')).locked, false, 'no pair lock at this threshold');
    assert.equal((await bf.check('dave', '10.0.0.2')).locked, false, 'elsewhere the name is not locked');
  });

  test('failures from many addresses hit the account-wide rate and lock; a known device is spared; unlock clears all', async () => {
    const limits = await store();
    const bf = createBruteForceProtection({
      store: limits,
      digestKey: KEY,
      threshold: 10,
      accountThreshold: 10,
      lockoutSeconds: 60,
      delayMs: 0,
      accountRate: limits.limiter({ name: 'signin_account', points: 5, windowSeconds: 60 }),
      accountRateWindowSeconds: 60,
    });
    for (let i = 1; i <= 5; i++) await bf.failed('erin', `10.0.1.${i}`);
    const rate = await bf.check('erin', '10.0.2.1');
    assert.equal(rate.locked && rate.scope, 'account_rate');
    assert.equal((await bf.check('erin', '10.0.2.1', { knownDevice: true })).locked, false);
    for (let i = 1; i <= 5; i++) await bf.failed('erin', `10.0.1.${i}`);
    const lock = await bf.check('erin', '10.0.2.1');
    assert.equal(lock.locked && lock.scope, 'account');
    assert.equal((await bf.check('erin', '10.0.2.1', { knownDevice: true })).locked, false);
    await bf.unlock(['erin']);
    assert.deepEqual(await bf.check('erin', '10.0.2.1'), { locked: false, delayMs: 0 });
  });

  test('regression: the counters were keyed by a plain SHA-256 of the typed name', async () => {
    // every key any counter is asked about, on the memory store
    const seen: string[] = [];
    const inner = await store();
    const recording: RateLimitStore = {
      kind: inner.kind,
      close: () => inner.close(),
      gate() {
        throw new Error('brute-force protection takes no gate');
      },
      limiter(spec) {
        const limiter = inner.limiter(spec);
        const record =
          <A extends unknown[], R>(fn: (key: string, ...rest: A) => R) =>
          (key: string, ...rest: A) => {
            seen.push(key);
            return fn(key, ...rest);
          };
        return {
          name: limiter.name,
          points: limiter.points,
          hit: record(limiter.hit.bind(limiter)),
          peek: record(limiter.peek.bind(limiter)),
          reset: record(limiter.reset.bind(limiter)),
          refund: record(limiter.refund.bind(limiter)),
        } satisfies Limiter;
      },
    };
    const bf = createBruteForceProtection({
      store: recording,
      digestKey: KEY,
      threshold: 3,
      accountThreshold: 5,
      lockoutSeconds: 60,
      delayMs: 0,
    });
    const typed = 'Hunter2-Password!';
    await bf.check(typed, '10.0.0.1');
    await bf.failed(typed, '10.0.0.1');
    await bf.succeeded(typed, '10.0.0.1');
    await bf.unlock([typed]);
    assert.ok(seen.length > 0);
    const all = seen.join('\n');
    const plain = createHash('sha256').update(typed.toLowerCase()).digest('base64url');
    assert.ok(!all.includes(plain.slice(0, 12)), 'no unkeyed hash of the name');
    assert.ok(!all.toLowerCase().includes(typed.toLowerCase()), 'nor the name');
    assert.ok(all.includes(loginDigest(typed, KEY)), 'the keyed digest');
    // another key, other counters: nothing to compare across deployments
    assert.notEqual(loginDigest(typed, randomBytes(32)), loginDigest(typed, KEY));
    assert.equal(loginDigest(' ALICE ', KEY), loginDigest('alice', KEY), 'normalized as sign-in compares names');
  });
});
