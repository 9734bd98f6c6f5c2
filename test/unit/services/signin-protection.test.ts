import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { LimitsConfig } from '../../../src/config/limits.ts';
import { createLogger } from '../../../src/logger.ts';
import { createMetrics } from '../../../src/services/metrics.ts';
import { createProtection } from '../../../src/services/protection.ts';
import { createRateLimitStore } from '../../../src/services/rate-limits.ts';
import type { SecurityEventInput, SecurityEventService } from '../../../src/services/security-events.ts';
import {
  createSigninProtection,
  type SigninAttempt,
  type SigninGate,
} from '../../../src/services/signin-protection.ts';

const KEY = randomBytes(32);

interface Limits {
  signinPerIp: number;
  signinPerAccount: number;
  threshold: number;
  accountThreshold: number;
  delayMs: number;
}

const config = (l: Limits): LimitsConfig => ({
  rateLimits: {
    windowSeconds: 60,
    tokenPerClient: 100,
    introspectionPerClient: 100,
    clientAuthFailuresPerIp: 100,
    signinPerIp: l.signinPerIp,
    signinPerAccount: l.signinPerAccount,
    adminPerIp: 100,
  },
  lockout: { threshold: l.threshold, accountThreshold: l.accountThreshold, seconds: 300, delayMs: l.delayMs },
  eventRetentionDays: 90,
  surge: { failuresPerMinute: 0, tokensPerMinute: 0 },
  metricsPort: undefined,
  metricsToken: undefined,
  federationJwksCooldownSeconds: 30,
});

/** The event log as the protection sees it: what was recorded, in order. */
function recordingEvents(): SecurityEventService & { recorded: SecurityEventInput[] } {
  const recorded: SecurityEventInput[] = [];
  return {
    recorded,
    record: (event) => void recorded.push(event),
    durably: (fn) => fn(),
    beforeAnswer: () => {},
    list: async () => [],
    histogram: async () => [],
    surges: async () => [],
    flush: async () => {},
    purge: async () => 0,
    close: async () => {},
  };
}

async function setup(limits: Partial<Limits> = {}) {
  const log = createLogger('silent');
  const events = recordingEvents();
  const protection = createProtection({
    config: config({ signinPerIp: 100, signinPerAccount: 0, threshold: 0, accountThreshold: 0, delayMs: 0, ...limits }),
    store: await createRateLimitStore({ redisUrl: undefined, issuer: 'https://idp.test', log }),
    events,
    metrics: createMetrics(),
    log,
    digestKey: KEY,
  });
  const signin = createSigninProtection({
    protection,
    findUserId: async (login) => (login.toLowerCase() === 'alice' ? 'user-alice' : undefined),
    digestKey: KEY,
  });
  return { signin, events };
}

const attempt = (over: Partial<SigninAttempt> = {}): SigninAttempt => ({
  address: '192.0.2.1',
  userAgent: 'test',
  clientId: 'app',
  login: 'alice',
  knownDevices: undefined,
  ...over,
});

describe('sign-in abuse protection on plain values: the decision before the password is checked', () => {
  const rows: [
    string,
    Partial<Limits>,
    (s: Awaited<ReturnType<typeof setup>>['signin']) => Promise<void>,
    SigninGate,
  ][] = [
    ['a first attempt: allowed at once', {}, async () => {}, { allowed: true, delayMs: 0 }],
    [
      'past the limit per address: refused with retry-after',
      { signinPerIp: 2 },
      async (s) => {
        await s.check(attempt());
        await s.check(attempt({ login: 'bob' }));
      },
      { allowed: false, reason: 'too_many_attempts', retryAfter: 60 },
    ],
    [
      'after three failures of a name from an address: the answer waits (progressive delay)',
      { threshold: 100, delayMs: 100 },
      async (s) => {
        for (let n = 0; n < 3; n++) await s.failed(attempt(), 'invalid_credentials');
      },
      { allowed: true, delayMs: 200 },
    ],
    [
      'a name locked from this address: locked, whether or not it names an account',
      { threshold: 2 },
      async (s) => {
        for (let n = 0; n < 2; n++) await s.failed(attempt(), 'invalid_credentials');
      },
      { allowed: false, reason: 'locked', retryAfter: 300 },
    ],
    [
      'a success forgives the failures of the name from that address',
      { threshold: 3, delayMs: 100 },
      async (s) => {
        for (let n = 0; n < 2; n++) await s.failed(attempt(), 'invalid_credentials');
        await s.succeeded(attempt(), 'user-alice');
      },
      { allowed: true, delayMs: 0 },
    ],
  ];
  for (const [title, limits, before, gate] of rows) {
    it(title, async () => {
      const { signin } = await setup(limits);
      await before(signin);
      const got = await signin.check(attempt());
      // the retry-after counts down from the window: compare it within a second
      if (!got.allowed && !gate.allowed)
        assert.ok(got.retryAfter <= gate.retryAfter && got.retryAfter > gate.retryAfter - 2);
      assert.deepEqual(got.allowed ? got : { ...got, retryAfter: 0 }, gate.allowed ? gate : { ...gate, retryAfter: 0 });
    });
  }

  it('an account locked everywhere still lets in a browser that signed in to it before (the known-device proof)', async () => {
    const { signin } = await setup({ accountThreshold: 1 });
    const proof = await signin.succeeded(attempt(), 'user-alice');
    await signin.failed(attempt({ address: '198.51.100.7' }), 'invalid_credentials');
    const stranger = await signin.check(attempt({ address: '203.0.113.9' }));
    assert.equal(stranger.allowed, false);
    assert.deepEqual(await signin.check(attempt({ address: '203.0.113.9', knownDevices: proof })), {
      allowed: true,
      delayMs: 0,
    });
    // another name's proof does not help
    const other = await signin.succeeded(attempt({ login: 'bob' }), 'user-bob');
    assert.equal(
      (await signin.check(attempt({ address: '203.0.113.9', knownDevices: other.split('.')[0] }))).allowed,
      false,
    );
  });

  it('the known-device proof keeps the newest eight names, once each, and drops what it did not write', async () => {
    const { signin } = await setup();
    let proof: string | undefined = 'not-an-entry.<script>';
    for (let n = 0; n < 10; n++)
      proof = await signin.succeeded(attempt({ login: `user${n}`, knownDevices: proof }), 'x');
    proof = await signin.succeeded(attempt({ login: 'user9', knownDevices: proof }), 'x');
    const entries = (proof ?? '').split('.');
    assert.equal(entries.length, 8);
    assert.equal(new Set(entries).size, 8);
    assert.ok(entries.every((e) => /^[A-Za-z0-9_-]{22}$/.test(e)));
  });

  it('a failure at a name that names no account keeps only its prefix and keyed digest, never the text', async () => {
    const { signin, events } = await setup();
    await signin.failed(attempt({ login: 'hunter2-typed-as-name' }), 'invalid_credentials');
    await signin.failed(attempt({ login: 'Alice' }), 'invalid_credentials');
    await new Promise((resolve) => setImmediate(resolve));
    const [unknown, known] = events.recorded;
    assert.equal(unknown?.type, 'signin.failed');
    assert.doesNotMatch(JSON.stringify(unknown), /hunter2/);
    assert.equal(unknown?.details?.login_prefix, 'hu…');
    assert.equal(known?.subject, 'user-alice');
    assert.equal(known?.details?.login, 'Alice');
  });
});
