import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDatabaseUnavailable } from '../../../src/services/availability.ts';
import { TtlCache } from '../../../src/services/cache.ts';

/** the shapes pg and Prisma 7's pg adapter were seen to throw (probed against a stopped server) */
const socket = (code: string) =>
  Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, errno: -111, syscall: 'connect' });
const prismaKnown = (code: string, cause: Record<string, unknown>) =>
  Object.assign(new Error('\nInvalid `prisma.client.findUnique()` invocation:\n\n'), {
    name: 'PrismaClientKnownRequestError',
    code,
    clientVersion: '7.10.1',
    meta: { modelName: 'Client', driverAdapterError: { name: 'DriverAdapterError', cause } },
  });
const sqlState = (code: string) => Object.assign(new Error('from the server'), { code, severity: 'FATAL' });

describe('isDatabaseUnavailable', () => {
  const unavailable: [string, unknown][] = [
    ['ECONNREFUSED from pg', socket('ECONNREFUSED')],
    ['ECONNRESET from pg', socket('ECONNRESET')],
    ['ETIMEDOUT from pg', socket('ETIMEDOUT')],
    [
      'a dead connection mid-query, rethrown by Prisma',
      Object.assign(new Error('Connection terminated unexpectedly'), { clientVersion: '7.10.1' }),
    ],
    ["pg.Pool's connection timeout", new Error('timeout exceeded when trying to connect')],
    [
      'Prisma P1001 DatabaseNotReachable',
      prismaKnown('P1001', { kind: 'DatabaseNotReachable', host: '127.0.0.1', port: 5432 }),
    ],
    ['Prisma P1017 ConnectionClosed', prismaKnown('P1017', { kind: 'ConnectionClosed' })],
    ['Prisma P2024 pool timeout', Object.assign(new Error('Timed out fetching a new connection'), { code: 'P2024' })],
    ['adapter SocketTimeout under another code', prismaKnown('P2010', { kind: 'SocketTimeout' })],
    [
      '25006 read-only transaction after a failover (raw query)',
      prismaKnown('P2010', { kind: 'postgres', code: '25006', originalCode: '25006' }),
    ],
    ['57P01 admin shutdown', sqlState('57P01')],
    ['57P02 crash shutdown', sqlState('57P02')],
    ['57P03 cannot connect now', sqlState('57P03')],
    ['08006 connection failure', sqlState('08006')],
    ['08001 cannot establish', sqlState('08001')],
    ['wrapped as a cause', new Error('load failed', { cause: socket('ECONNREFUSED') })],
    [
      'happy eyeballs AggregateError',
      new AggregateError([socket('ECONNREFUSED'), socket('ECONNREFUSED')], 'connect failed'),
    ],
  ];
  for (const [name, err] of unavailable) {
    test(`unavailable: ${name}`, () => assert.equal(isDatabaseUnavailable(err), true));
  }

  const other: [string, unknown][] = [
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    [
      'a unique violation',
      prismaKnown('P2002', { kind: 'UniqueConstraintViolation', constraint: { fields: ['name'] } }),
    ],
    ['a missing table', prismaKnown('P2021', { kind: 'TableDoesNotExist', originalCode: '42P01' })],
    ['a syntax error', sqlState('42601')],
    ['a serialization failure', sqlState('40001')],
    ['an HTTP error with a status', Object.assign(new Error('bad request'), { status: 400 })],
    ['nothing', undefined],
    ['a string', 'ECONNREFUSED'],
  ];
  for (const [name, err] of other) {
    test(`not unavailable: ${name}`, () => assert.equal(isDatabaseUnavailable(err), false));
  }

  test('a cycle of causes ends', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    Object.assign(a, { cause: b });
    assert.equal(isDatabaseUnavailable(a), false);
  });
});

describe('TtlCache stale-if-error', () => {
  const down = () => Promise.reject(socket('ECONNREFUSED'));

  test('regression: an expired entry is served while the database is unavailable, within its bound', async () => {
    const cache = new TtlCache<string>({ ttlMs: 10, max: 10, staleIfErrorMs: 200 });
    await cache.getOrLoad('k', async () => 'v1');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await cache.getOrLoad('k', down), 'v1', 'stale, on a database error');
    await new Promise((r) => setTimeout(r, 220));
    await assert.rejects(cache.getOrLoad('k', down), /ECONNREFUSED/, 'past the bound the error shows');
  });

  test('a lost notification connection keeps entries for the outage; a known change does not', async () => {
    const cache = new TtlCache<string>({ ttlMs: 60_000, max: 10, staleIfErrorMs: 60_000 });
    await cache.getOrLoad('a', async () => 'A');
    await cache.getOrLoad('b', async () => 'B');
    cache.markAllStale();
    assert.equal(cache.get('a'), undefined, 'read again before it is served');
    assert.equal(await cache.getOrLoad('a', async () => 'A2'), 'A2', 'reloaded when the database answers');
    assert.equal(await cache.getOrLoad('b', down), 'B', 'the stale value when it does not');
    cache.invalidate('b');
    await assert.rejects(cache.getOrLoad('b', down), /ECONNREFUSED/, 'a changed entry is never served stale');
    cache.invalidateAll();
    await assert.rejects(cache.getOrLoad('a', down), /ECONNREFUSED/);
  });

  test('another error is not hidden by a stale entry', async () => {
    const cache = new TtlCache<string>({ ttlMs: 1, max: 10, staleIfErrorMs: 60_000 });
    await cache.getOrLoad('k', async () => 'v');
    await new Promise((r) => setTimeout(r, 5));
    await assert.rejects(
      cache.getOrLoad('k', () => Promise.reject(new TypeError('bug'))),
      TypeError,
    );
  });

  test('while serving stale, the database is asked again at most once a second per entry', async () => {
    const cache = new TtlCache<string>({ ttlMs: 1, max: 10, staleIfErrorMs: 60_000 });
    await cache.getOrLoad('k', async () => 'v');
    await new Promise((r) => setTimeout(r, 5));
    let loads = 0;
    const counted = () => {
      loads++;
      return down();
    };
    for (let i = 0; i < 20; i++) assert.equal(await cache.getOrLoad('k', counted), 'v');
    assert.equal(loads, 1);
  });

  test('without staleIfErrorMs nothing is served past its time to live', async () => {
    const cache = new TtlCache<string>({ ttlMs: 5, max: 10 });
    await cache.getOrLoad('k', async () => 'v');
    await new Promise((r) => setTimeout(r, 10));
    await assert.rejects(cache.getOrLoad('k', down), /ECONNREFUSED/);
  });
});
