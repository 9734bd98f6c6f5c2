import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Database, openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrator.ts';
import { createSecurityEventRepository } from '../../src/db/repositories/security-events.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/services/metrics.ts';
import { createSecurityEventService, sanitizeDetails } from '../../src/services/security-events.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

const log = createLogger('silent');
/** the queue's own tests: every type goes through it (in the product, the high-volume ones) */
const batched = () => true;

describe('security event queue (on a real database)', () => {
  let testDb: TestDatabase;
  let db: Database;

  before(async () => {
    testDb = await createTestDatabase();
    db = await openDatabase({ databaseUrl: testDb.env.DATABASE_URL, dataDir: testDb.env.DATA_DIR ?? '.' }, log);
    await migrate(db, log);
  });
  after(async () => {
    await db?.close();
    await testDb?.drop();
  });

  test('record returns at once; the batch is written later, and close writes the rest', async () => {
    const repo = createSecurityEventRepository(db.prisma, db.query);
    const events = createSecurityEventService({ repo, log, retentionDays: 30, flushIntervalMs: 60_000, batched });
    for (let i = 0; i < 5; i++) events.record({ type: 'test.queued', subject: `s${i}` });
    assert.equal(
      (await repo.list({ type: 'test.queued', limit: 10 })).length,
      0,
      'nothing written on the request path',
    );
    await events.close();
    const rows = await repo.list({ type: 'test.queued', limit: 10 });
    assert.deepEqual(
      rows.map((r) => r.subject),
      ['s4', 's3', 's2', 's1', 's0'],
    );
  });

  test('a full batch is written without waiting for the timer', async () => {
    const repo = createSecurityEventRepository(db.prisma, db.query);
    const events = createSecurityEventService({
      repo,
      log,
      retentionDays: 30,
      flushIntervalMs: 60_000,
      batchSize: 3,
      batched,
    });
    for (let i = 0; i < 3; i++) events.record({ type: 'test.batch', subject: `s${i}` });
    for (let i = 0; i < 50 && (await repo.list({ type: 'test.batch', limit: 5 })).length < 3; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await repo.list({ type: 'test.batch', limit: 5 })).length, 3);
    await events.close();
  });

  test('the queue is bounded: past it events are dropped and counted', async () => {
    const repo = createSecurityEventRepository(db.prisma, db.query);
    const metrics = createMetrics();
    const events = createSecurityEventService({
      repo,
      log,
      metrics,
      retentionDays: 30,
      flushIntervalMs: 60_000,
      batchSize: 100,
      maxQueue: 5,
      batched,
    });
    for (let i = 0; i < 8; i++) events.record({ type: 'test.bounded', subject: `s${i}` });
    await events.close();
    assert.equal((await repo.list({ type: 'test.bounded', limit: 20 })).length, 5);
    assert.match(await metrics.registry.metrics(), /idp_security_events_dropped_total 3/);
  });

  test('identical events waiting together are stored once, with a count', async () => {
    const repo = createSecurityEventRepository(db.prisma, db.query);
    const events = createSecurityEventService({ repo, log, retentionDays: 30, flushIntervalMs: 60_000, batched });
    const issued = {
      type: 'test.merged',
      actor: 'svc',
      clientId: 'svc',
      ip: '10.0.0.1',
      details: { grant_type: 'client_credentials' },
    };
    for (let i = 0; i < 5; i++) events.record(issued);
    events.record({ ...issued, ip: '10.0.0.2' });
    events.record({ ...issued, details: { note: 'quotes " and \\ and ☃' } });
    await events.close();
    const rows = await repo.list({ type: 'test.merged', limit: 10 });
    assert.equal(rows.length, 3);
    const merged = rows.find((r) => r.ip === '10.0.0.1' && r.details.grant_type);
    assert.deepEqual(merged?.details, { grant_type: 'client_credentials', count: 5 });
    assert.deepEqual(rows.find((r) => r.ip === '10.0.0.2')?.details, { grant_type: 'client_credentials' });
    assert.equal(
      rows.find((r) => r.details.note)?.details.note,
      'quotes " and \\ and ☃',
      'JSON survives the array insert',
    );
  });

  test('secrets never reach a row: secret-looking keys are dropped, long values cut', async () => {
    const repo = createSecurityEventRepository(db.prisma, db.query);
    const events = createSecurityEventService({ repo, log, retentionDays: 30 });
    events.record({
      type: 'test.sanitized',
      userAgent: 'x'.repeat(2000),
      details: {
        password: 'hunter2hunter2',
        client_secret: 'shh-secret',
        refresh_token: 'rt-value',
        code_verifier: 'verifier-value',
        passwordHash: '$argon2id$v=19$...',
        nested: { token: 'deep-token' },
        reason: 'r'.repeat(1000),
        fields: ['password', 'name'],
      },
    });
    await events.close();
    const [row] = await repo.list({ type: 'test.sanitized', limit: 1 });
    assert.ok(row);
    assert.deepEqual(Object.keys(row.details).sort(), ['fields', 'reason']);
    assert.ok((row.details.reason as string).length <= 257);
    assert.ok((row.userAgent ?? '').length <= 513);
    assert.doesNotMatch(JSON.stringify(row), /hunter2|shh-secret|rt-value|verifier-value|argon2|deep-token/);
    assert.deepEqual(sanitizeDetails({ accessToken: 'a', apiKey: 'k', ok: true }), { ok: true });
  });

  test('retention: events older than the setting are purged', async () => {
    const repo = createSecurityEventRepository(db.prisma, db.query);
    const old = new Date(Date.now() - 40 * 86_400_000);
    await repo.insertMany([
      {
        type: 'test.old',
        occurredAt: old,
        outcome: 'success',
        actor: null,
        subject: null,
        clientId: null,
        ip: null,
        userAgent: null,
        details: {},
      },
      {
        type: 'test.recent',
        occurredAt: new Date(),
        outcome: 'success',
        actor: null,
        subject: null,
        clientId: null,
        ip: null,
        userAgent: null,
        details: {},
      },
    ]);
    const events = createSecurityEventService({ repo, log, retentionDays: 30 });
    assert.ok((await events.purge()) >= 1);
    assert.equal((await repo.list({ type: 'test.old', limit: 5 })).length, 0);
    assert.equal((await repo.list({ type: 'test.recent', limit: 5 })).length, 1);
    await events.close();
  });

  test('a database that refuses the write costs events, not the caller', async () => {
    const other = await createTestDatabase();
    const broken = await openDatabase({ databaseUrl: other.env.DATABASE_URL, dataDir: other.env.DATA_DIR ?? '.' }, log);
    await migrate(broken, log);
    const metrics = createMetrics();
    const events = createSecurityEventService({
      repo: createSecurityEventRepository(broken.prisma, broken.query),
      log,
      metrics,
      retentionDays: 30,
      flushIntervalMs: 60_000,
    });
    await broken.close();
    await other.drop();
    events.record({ type: 'test.lost' });
    await events.flush();
    await events.close();
    assert.match(await metrics.registry.metrics(), /idp_security_events_dropped_total 1/);
  });
});
