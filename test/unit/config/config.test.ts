import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config/index.ts';

const fails = (env: Record<string, string>, message: string) =>
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => err instanceof ConfigError && err.message === message,
  );

describe('loadConfig', () => {
  test('defaults for development', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.issuer, 'http://localhost:3000');
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.dataDir, './.data');
    assert.equal(config.trustProxy, false);
    assert.ok(Object.isFrozen(config));
  });

  test('PORT=0 leaves the issuer to the chosen port', () => {
    assert.equal(loadConfig({ PORT: '0' }).issuer, undefined);
  });

  test('a trailing slash on ISSUER is dropped', () => {
    assert.equal(loadConfig({ ISSUER: 'https://id.example/' }).issuer, 'https://id.example');
  });

  test('one line naming the variable for each bad value', () => {
    fails({ PORT: 'eighty' }, 'PORT: must be a whole number from 0 to 65535 (got eighty)');
    fails({ PORT: '70000' }, 'PORT: must be a whole number from 0 to 65535 (got 70000)');
    fails({ ISSUER: 'not a url' }, 'ISSUER: must be an absolute http or https URL');
    fails({ ISSUER: 'https://id.example/?x=1' }, 'ISSUER: must not have a query or fragment');
    fails({ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL: must be an absolute postgres or postgresql URL');
    fails({ LOG_LEVEL: 'loud' }, 'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent');
    fails(
      { TRUST_PROXY: 'maybe' },
      'TRUST_PROXY: must be true, false or the number of proxies from 0 to 10 (got maybe)',
    );
    fails({ SECRETS_KEY: 'short' }, 'SECRETS_KEY: must be at least 32 characters');
    fails(
      { ADMIN_CLIENT_ID: 'admin' },
      'ADMIN_CLIENT_SECRET: ADMIN_CLIENT_ID and ADMIN_CLIENT_SECRET must be set together',
    );
    fails({ TLS_CERT_FILE: '/x' }, 'TLS_KEY_FILE: TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  });

  test('signing keys: KEY_PUBLISH_AHEAD_SECONDS (default 600) and KEY_ROTATION_DAYS (default off)', () => {
    assert.deepEqual(loadConfig({}).keys, { publishAheadSeconds: 600, rotationDays: undefined });
    assert.deepEqual(loadConfig({ KEY_PUBLISH_AHEAD_SECONDS: '0', KEY_ROTATION_DAYS: '90' }).keys, {
      publishAheadSeconds: 0,
      rotationDays: 90,
    });
    fails(
      { KEY_PUBLISH_AHEAD_SECONDS: '-1' },
      'KEY_PUBLISH_AHEAD_SECONDS: must be a whole number from 0 to 604800 (got -1)',
    );
    fails(
      { KEY_PUBLISH_AHEAD_SECONDS: '1e3' },
      'KEY_PUBLISH_AHEAD_SECONDS: must be a whole number from 0 to 604800 (got 1e3)',
    );
    fails(
      { KEY_PUBLISH_AHEAD_SECONDS: '604801' },
      'KEY_PUBLISH_AHEAD_SECONDS: must be a whole number from 0 to 604800 (got 604801)',
    );
    fails({ KEY_ROTATION_DAYS: '0' }, 'KEY_ROTATION_DAYS: must be a whole number from 1 to 3650 (got 0)');
    fails(
      { KEY_ROTATION_DAYS: '1', KEY_PUBLISH_AHEAD_SECONDS: '86400' },
      'KEY_ROTATION_DAYS: must be longer than KEY_PUBLISH_AHEAD_SECONDS',
    );
  });

  test('production refuses unsafe defaults', () => {
    const key = { SECRETS_KEY: 'k'.repeat(32) };
    fails({ NODE_ENV: 'production', ISSUER: 'https://id.example' }, 'SECRETS_KEY: required when NODE_ENV=production');
    fails({ NODE_ENV: 'production', ...key }, 'ISSUER: required when NODE_ENV=production');
    fails(
      { NODE_ENV: 'production', ISSUER: 'http://id.example', ...key },
      'ISSUER: must be https in production (http is allowed only on localhost)',
    );
    const config = loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example', ...key });
    assert.equal(config.host, '0.0.0.0');
  });

  test('TRUST_PROXY: true or false, or how many proxies append to X-Forwarded-For', () => {
    const hops = (value: string | undefined) => {
      const config = loadConfig({ TRUST_PROXY: value });
      return [config.trustProxy, config.proxyHops];
    };
    assert.deepEqual(hops(undefined), [false, 0]);
    assert.deepEqual(hops('false'), [false, 0]);
    assert.deepEqual(hops('0'), [false, 0]);
    assert.deepEqual(hops('true'), [true, 1]);
    assert.deepEqual(hops('1'), [true, 1]);
    assert.deepEqual(hops('2'), [true, 2]);
    assert.deepEqual(hops('10'), [true, 10]);
    for (const bad of ['11', '-1', '1.5', '2e1', '0x2', 'Infinity', 'maybe']) {
      fails(
        { TRUST_PROXY: bad },
        `TRUST_PROXY: must be true, false or the number of proxies from 0 to 10 (got ${bad})`,
      );
    }
    fails(
      { TRUST_PROXY: '0', TLS_CLIENT_CERT_HEADER: 'x-client-cert' },
      'TLS_CLIENT_CERT_HEADER: needs TRUST_PROXY=true',
    );
    assert.equal(
      loadConfig({ TRUST_PROXY: '2', TLS_CLIENT_CERT_HEADER: 'x-client-cert' }).clientCertHeader,
      'x-client-cert',
    );
  });
});
