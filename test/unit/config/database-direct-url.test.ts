import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config/index.ts';

const fails = (env: Record<string, string>, message: string) =>
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => err instanceof ConfigError && err.message === message,
  );

describe('DATABASE_DIRECT_URL', () => {
  test('defaults to DATABASE_URL (a direct connection serves both)', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://idp@db:5432/idp' });
    assert.equal(config.databaseDirectUrl, 'postgres://idp@db:5432/idp');
    assert.equal(loadConfig({}).databaseDirectUrl, undefined);
  });

  test('is kept apart from DATABASE_URL when set (a pooler for queries, PostgreSQL for sessions)', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://idp@pgbouncer:6432/idp',
      DATABASE_DIRECT_URL: ' postgresql://idp@db:5432/idp ',
    });
    assert.equal(config.databaseUrl, 'postgres://idp@pgbouncer:6432/idp');
    assert.equal(config.databaseDirectUrl, 'postgresql://idp@db:5432/idp');
  });

  test('a bad value is one line naming the variable', () => {
    fails(
      { DATABASE_URL: 'postgres://db/idp', DATABASE_DIRECT_URL: 'mysql://x' },
      'DATABASE_DIRECT_URL: must be an absolute postgres or postgresql URL',
    );
    fails(
      { DATABASE_DIRECT_URL: 'postgres://db/idp' },
      'DATABASE_DIRECT_URL: needs DATABASE_URL (the embedded database has no direct connection)',
    );
  });
});
