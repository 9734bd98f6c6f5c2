import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Database, openDatabase } from '../../../src/db/database.ts';
import { migrate } from '../../../src/db/migrator.ts';
import { createOutboxRepository } from '../../../src/db/repositories/outbox.ts';
import { createLogger } from '../../../src/logger.ts';
import { createOutbox, PermanentFailure, retryDelayMs } from '../../../src/services/outbox.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';

describe('outbox backoff', () => {
  test('exponential with jitter: between a quarter and all of base·2^(n-1), capped', () => {
    for (const [attempt, ceiling] of [
      [1, 1000],
      [2, 2000],
      [3, 4000],
      [10, 60_000],
      [1000, 60_000],
    ] as const) {
      assert.equal(
        retryDelayMs(attempt, 1000, 60_000, () => 0),
        ceiling / 4,
      );
      assert.equal(
        retryDelayMs(attempt, 1000, 60_000, () => 1),
        ceiling,
      );
    }
  });
});

describe('outbox over a real database', () => {
  const log = createLogger('silent');
  let database: TestDatabase;
  let db: Database;

  before(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.env.DATABASE_URL, dataDir: database.env.DATA_DIR ?? '.data' }, log);
    await migrate(db, log);
  });
  after(async () => {
    await db?.close();
    await database?.drop();
  });

  test('two workers draining one outbox at once never do the same row twice', async () => {
    const repo = createOutboxRepository(db.prisma);
    const done = new Map<string, number>();
    const make = () => {
      const outbox = createOutbox({ repo, log, options: { batch: 3 } });
      outbox.register('count', {
        async handle(payload) {
          const key = (payload as { n: string }).n;
          // a handler that takes a while, so the two workers overlap
          await new Promise((r) => setTimeout(r, 2));
          done.set(key, (done.get(key) ?? 0) + 1);
        },
        summary: () => ({}),
      });
      return outbox;
    };
    const [a, b] = [make(), make()];
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => a.enqueue('count', { n: `n${i}` })));
    const [doneA, doneB] = await Promise.all([a.drain(), b.drain()]);
    assert.equal(doneA + doneB, 40);
    assert.equal(done.size, 40);
    assert.deepEqual([...new Set(done.values())], [1], 'each row once');
    for (const id of ids) assert.equal((await repo.find(id))?.status, 'sent');
    const row = await db.prisma.outboxItem.findUnique({ where: { id: ids[0] ?? '' } });
    assert.deepEqual(row?.payload, {}, 'the payload of a sent row is emptied');
  });

  test('a lease that ran out (its worker died) is taken over; the late worker cannot mark the row', async () => {
    const repo = createOutboxRepository(db.prisma);
    await repo.insert({ id: 'lease-1', kind: 'x', payload: { secret: 1 }, maxAttempts: 5 });
    const [first] = await repo.claim('lease-a', 10, 50);
    assert.equal(first?.id, 'lease-1');
    assert.deepEqual(await repo.claim('lease-b', 10, 50), [], 'leased: nobody else takes it');
    await new Promise((r) => setTimeout(r, 80));
    const [again] = await repo.claim('lease-b', 10, 60_000);
    assert.equal(again?.id, 'lease-1');
    assert.equal(again?.attempts, 2);
    assert.equal(await repo.markSent('lease-1', 'lease-a', {}), false, 'the first worker lost its lease');
    assert.equal(await repo.markSent('lease-1', 'lease-b', {}), true);
  });

  test('a failing row is retried with backoff, then dead after its attempts; a permanent failure is dead at once', async () => {
    const repo = createOutboxRepository(db.prisma);
    const outbox = createOutbox({ repo, log, options: { baseDelayMs: 10, maxDelayMs: 20, maxAttempts: 3 } });
    let calls = 0;
    outbox.register('flaky', {
      async handle() {
        calls++;
        throw new Error('down');
      },
      summary: () => ({ kept: true }),
    });
    outbox.register('refused', {
      async handle() {
        throw new PermanentFailure('recipient refused (550)');
      },
      summary: () => ({}),
    });
    const flaky = await outbox.enqueue('flaky', { secret: 'x' });
    const refused = await outbox.enqueue('refused', {});
    for (let i = 0; i < 50 && (await repo.find(flaky))?.status === 'pending'; i++) {
      await outbox.drain();
      await new Promise((r) => setTimeout(r, 10));
    }
    const row = await repo.find(flaky);
    assert.equal(row?.status, 'dead');
    assert.equal(row?.attempts, 3);
    assert.equal(calls, 3);
    assert.equal(row?.lastError, 'down');
    const stored = await db.prisma.outboxItem.findUnique({ where: { id: flaky } });
    assert.deepEqual(stored?.payload, { kept: true }, 'a dead row keeps only its summary');
    const dead = await repo.find(refused);
    assert.equal(dead?.status, 'dead');
    assert.equal(dead?.attempts, 1);
  });
});
