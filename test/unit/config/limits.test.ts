import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config/index.ts';

describe('rate limit, lockout and metrics settings', () => {
  test('defaults', () => {
    const { limits } = loadConfig({});
    assert.deepEqual(limits.rateLimits, {
      windowSeconds: 60,
      tokenPerClient: 1200,
      introspectionPerClient: 6000,
      clientAuthFailuresPerIp: 30,
      signinPerIp: 30,
      signinPerAccount: 10,
      adminPerIp: 600,
    });
    assert.deepEqual(limits.lockout, { threshold: 10, accountThreshold: 50, seconds: 900, delayMs: 250 });
    assert.equal(limits.eventRetentionDays, 90);
    assert.equal(limits.metricsPort, undefined);
    assert.ok(Object.isFrozen(limits.rateLimits));
  });

  test('values from the environment; 0 turns a limit off', () => {
    const { limits } = loadConfig({
      RATE_LIMIT_TOKEN: '0',
      LOCKOUT_SECONDS: '60',
      METRICS_PORT: '9464',
      RATE_LIMIT_WINDOW: '10',
    });
    assert.equal(limits.rateLimits.tokenPerClient, 0);
    assert.equal(limits.rateLimits.windowSeconds, 10);
    assert.equal(limits.lockout.seconds, 60);
    assert.equal(limits.metricsPort, 9464);
  });

  test('a bad value names the variable', () => {
    const fails = (env: Record<string, string>, name: string) =>
      assert.throws(
        () => loadConfig(env),
        (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${name}: `),
      );
    fails({ RATE_LIMIT_TOKEN: 'many' }, 'RATE_LIMIT_TOKEN');
    fails({ RATE_LIMIT_SIGNIN_IP: '-1' }, 'RATE_LIMIT_SIGNIN_IP');
    fails({ LOCKOUT_SECONDS: '0' }, 'LOCKOUT_SECONDS');
    fails({ EVENT_RETENTION_DAYS: '1.5' }, 'EVENT_RETENTION_DAYS');
    fails({ METRICS_PORT: '70000' }, 'METRICS_PORT');
    fails({ METRICS_PORT: 'http' }, 'METRICS_PORT');
  });
});
