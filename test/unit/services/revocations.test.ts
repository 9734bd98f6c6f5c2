import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '../../../src/logger.ts';
import { type CacheBus, type CacheEvent, createCacheBus } from '../../../src/services/cache.ts';
import type { Payload } from '../../../src/services/ports/oidc-payloads.ts';
import { createRevocations, REVOKED_ACCESS_TOKEN } from '../../../src/services/revocations.ts';

const log = createLogger('silent');
const later = () => Math.floor(Date.now() / 1000) + 300;
const settle = () => new Promise((r) => setTimeout(r, 0));

/** A table of rows shared by "instances", counting the reads that reach it. */
function storage() {
  const rows = new Map<string, { payload: Payload; expiresAt: Date }>();
  const reads = { find: 0, list: 0 };
  let failing = false;
  return {
    rows,
    reads,
    fail(on: boolean) {
      failing = on;
    },
    payloads: {
      async find(model: string, id: string) {
        reads.find++;
        if (failing) throw new Error('database unavailable');
        return model === REVOKED_ACCESS_TOKEN ? rows.get(id)?.payload : undefined;
      },
      async upsert(_model: string, id: string, payload: Payload, expiresIn: number | undefined) {
        rows.set(id, { payload, expiresAt: new Date(Date.now() + (expiresIn ?? 0) * 1000) });
      },
      async listLive() {
        reads.list++;
        if (failing) throw new Error('database unavailable');
        return [...rows].map(([id, r]) => ({ id, expiresAt: r.expiresAt }));
      },
    },
  };
}

/** Buses of several instances joined as NOTIFY joins them; `drop` loses messages (a gap). */
function network() {
  const listeners: { onMessage: (p: string) => void; onGap: () => void }[] = [];
  let dropping = false;
  return {
    drop(on: boolean) {
      dropping = on;
    },
    gap() {
      for (const l of listeners) l.onGap();
    },
    async bus(): Promise<CacheBus> {
      const bus = createCacheBus({
        async listen(_channel, onMessage, onGap) {
          listeners.push({ onMessage, onGap });
        },
        async notify(_channel, payload) {
          if (!dropping) for (const l of listeners) l.onMessage(payload);
        },
      });
      await bus.start();
      return bus;
    },
  };
}

describe('revocations', () => {
  test('a live token costs no read once the list is loaded; a revoked one is refused on every instance', async () => {
    const db = storage();
    const net = network();
    const a = createRevocations({ payloads: db.payloads, bus: await net.bus(), log });
    const b = createRevocations({ payloads: db.payloads, bus: await net.bus(), log });
    await settle();
    const exp = later();
    for (let i = 0; i < 100; i++) assert.equal(await a.isRevoked(`live-${i}`, exp), false);
    assert.equal(db.reads.find, 0);
    await a.revoke('gone', exp, 'svc');
    assert.equal(await a.isRevoked('gone', exp), true);
    assert.equal(await b.isRevoked('gone', exp), true);
    assert.equal(db.reads.find, 0);
  });

  test('asks the database until its list is read, and when the read failed', async () => {
    const db = storage();
    const net = network();
    const exp = later();
    await db.payloads.upsert(REVOKED_ACCESS_TOKEN, 'old', { jti: 'old' }, 300);
    db.fail(true);
    const r = createRevocations({ payloads: db.payloads, bus: await net.bus(), log });
    await settle();
    // the list could not be read and the database cannot answer: an error, never "not revoked"
    await assert.rejects(r.isRevoked('old', exp));
    db.fail(false);
    assert.equal(await r.isRevoked('old', exp), true);
    assert.equal(await r.isRevoked('other', exp), false);
    assert.ok(db.reads.find >= 2);
    // notifications resume (the bus reconnected): the list is read again and answers alone
    net.gap();
    await settle();
    const before = db.reads.find;
    assert.equal(await r.isRevoked('old', exp), true);
    assert.equal(await r.isRevoked('other', exp), false);
    assert.equal(db.reads.find, before);
  });

  test('a revocation whose notification was lost is found after the gap is noticed', async () => {
    const db = storage();
    const net = network();
    const a = createRevocations({ payloads: db.payloads, bus: await net.bus(), log });
    const b = createRevocations({ payloads: db.payloads, bus: await net.bus(), log });
    await settle();
    const exp = later();
    net.drop(true);
    await a.revoke('lost', exp, 'svc');
    net.drop(false);
    assert.equal(await a.isRevoked('lost', exp), true);
    net.gap();
    // while b reads its list again, it asks the database
    assert.equal(await b.isRevoked('lost', exp), true);
    await settle();
    assert.equal(await b.isRevoked('lost', exp), true);
  });

  test('past its bound the list stops answering alone; expired entries are not kept', async () => {
    const db = storage();
    const net = network();
    const bus = await net.bus();
    const r = createRevocations({ payloads: db.payloads, bus, log, max: 3 });
    await settle();
    const exp = later();
    for (const jti of ['1', '2', '3', '4']) await r.revoke(jti, exp, 'svc');
    const before = db.reads.find;
    assert.equal(await r.isRevoked('4', exp), true, 'the fourth is found in the database');
    assert.equal(await r.isRevoked('5', exp), false);
    assert.ok(db.reads.find > before);
    // a revocation already expired is not announced
    const events: CacheEvent[] = [];
    bus.subscribe((e) => e !== 'all' && events.push(e));
    await r.revoke('past', Math.floor(Date.now() / 1000) - 1, 'svc');
    assert.deepEqual(events, []);
  });
});
