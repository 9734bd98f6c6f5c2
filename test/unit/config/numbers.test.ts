import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config/index.ts';

const message = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return undefined;
};

/** Every numeric variable, with its bounds. */
const NUMERIC: Record<string, [number, number]> = {
  PORT: [0, 65535],
  PURGE_INTERVAL: [1, 86_400],
  RATE_LIMIT_WINDOW: [1, 3600],
  RATE_LIMIT_TOKEN: [0, 1_000_000],
  RATE_LIMIT_INTROSPECTION: [0, 1_000_000],
  RATE_LIMIT_CLIENT_AUTH_FAILURES: [0, 1_000_000],
  RATE_LIMIT_SIGNIN_IP: [0, 1_000_000],
  RATE_LIMIT_SIGNIN_ACCOUNT: [0, 1_000_000],
  RATE_LIMIT_ADMIN: [0, 1_000_000],
  LOCKOUT_THRESHOLD: [0, 10_000],
  LOCKOUT_ACCOUNT_THRESHOLD: [0, 100_000],
  LOCKOUT_SECONDS: [1, 86_400],
  SIGNIN_DELAY_MS: [0, 10_000],
  EVENT_RETENTION_DAYS: [1, 3650],
  SURGE_FAILURES_PER_MINUTE: [0, 1_000_000],
  SURGE_TOKENS_PER_MINUTE: [0, 1_000_000],
  METRICS_PORT: [0, 65535],
};

describe('numeric environment variables', () => {
  test('regression: RATE_LIMIT_TOKEN=100000000 says what the bound is, not "must be a number"', () => {
    assert.equal(
      message({ RATE_LIMIT_TOKEN: '100000000' }),
      'RATE_LIMIT_TOKEN: must be a whole number from 0 to 1000000 (got 100000000)',
    );
  });

  test('regression: every numeric variable names its bounds, below, above and for non-numbers', () => {
    for (const [name, [min, max]] of Object.entries(NUMERIC)) {
      const expected = `${name}: must be a whole number from ${min} to ${max}`;
      for (const bad of [String(max + 1), 'lots', '1e3', '1.5', '-1', 'Infinity', '0x10', '9'.repeat(40)]) {
        assert.ok(
          message({ [name]: bad })?.startsWith(`${expected} (got `),
          `${name}=${bad}: ${message({ [name]: bad })}`,
        );
      }
      if (min > 0) assert.ok(message({ [name]: String(min - 1) })?.startsWith(expected), name);
      assert.equal(message({ [name]: String(min) }), undefined, `${name}=${min}`);
      assert.equal(message({ [name]: ` ${max} ` }), undefined, `${name}=${max}`);
    }
  });

  test('an empty value is unset (the default), never 0 (which would turn a limit off)', () => {
    const config = loadConfig({ RATE_LIMIT_TOKEN: '', PORT: ' ', METRICS_PORT: '' });
    assert.equal(config.limits.rateLimits.tokenPerClient, 1200);
    assert.equal(config.port, 3000);
    assert.equal(config.limits.metricsPort, undefined);
  });

  test('a long bad value is cut in the message', () => {
    assert.ok((message({ PORT: 'x'.repeat(500) })?.length ?? 0) < 120);
  });
});
