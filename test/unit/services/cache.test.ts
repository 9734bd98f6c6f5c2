import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCacheBus, TtlCache } from '../../../src/services/cache.ts';

describe('TtlCache', () => {
  test('expires entries and evicts the oldest past its bound', async () => {
    const cache = new TtlCache<number>({ ttlMs: 20, max: 2 });
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.get('c'), 3);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(cache.get('c'), undefined);
  });

  test('concurrent misses share one load', async () => {
    const cache = new TtlCache<number>({ ttlMs: 1000, max: 10 });
    let loads = 0;
    const load = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 5));
      return 7;
    };
    const values = await Promise.all([cache.getOrLoad('k', load), cache.getOrLoad('k', load)]);
    assert.deepEqual(values, [7, 7]);
    assert.equal(loads, 1);
  });

  test('an invalidation during a load is not overwritten by the stale value', async () => {
    const cache = new TtlCache<string>({ ttlMs: 1000, max: 10 });
    let release: (v: string) => void = () => {};
    const pending = cache.getOrLoad('k', () => new Promise<string>((r) => (release = r)));
    cache.invalidate('k');
    release('stale');
    assert.equal(await pending, 'stale');
    assert.equal(cache.get('k'), undefined, 'the next read loads again');
    const all = cache.getOrLoad('j', () => new Promise<string>((r) => (release = r)));
    cache.invalidateAll();
    release('stale');
    await all;
    assert.equal(cache.get('j'), undefined);
  });
});

describe('CacheBus', () => {
  test('delivers locally at once, others through the transport, and "all" after a gap', async () => {
    const events: unknown[] = [];
    let onMessage: (payload: string) => void = () => {};
    let onGap: () => void = () => {};
    const sent: string[] = [];
    const bus = createCacheBus({
      async listen(_channel, message, gap) {
        onMessage = message;
        onGap = gap;
      },
      async notify(_channel, payload) {
        sent.push(payload);
      },
    });
    bus.subscribe((event) => events.push(event));
    await bus.start();
    await bus.publish({ topic: 'client', key: 'c1' });
    assert.deepEqual(events, [{ topic: 'client', key: 'c1' }]);
    assert.deepEqual(sent, ['{"topic":"client","key":"c1"}']);
    onMessage('{"topic":"resource","key":"https://api"}');
    onMessage('not json');
    onMessage('{"topic":"other"}');
    onGap();
    assert.deepEqual(events.slice(1), [{ topic: 'resource', key: 'https://api' }, 'all', 'all']);
  });
});
