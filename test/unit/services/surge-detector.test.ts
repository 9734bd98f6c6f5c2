import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '../../../src/logger.ts';
import { createMetrics } from '../../../src/services/metrics.ts';
import { createSurgeDetector } from '../../../src/services/surge-detector.ts';

const log = createLogger('silent');
const T0 = 1_000_000_000_000;

describe('surge detector', () => {
  test('reports when one key passes the threshold within a sliding minute, once a minute', async () => {
    const metrics = createMetrics();
    const surge = createSurgeDetector({ thresholds: { failures: 3, tokens: 0 }, log, metrics });
    assert.equal(surge.observe('failures', 'ip', '10.0.0.1', T0), false);
    assert.equal(surge.observe('failures', 'ip', '10.0.0.2', T0), false, 'another key counts apart');
    assert.equal(surge.observe('failures', 'ip', '10.0.0.1', T0 + 1000), false);
    assert.equal(surge.observe('failures', 'ip', '10.0.0.1', T0 + 2000), true);
    assert.equal(surge.observe('failures', 'ip', '10.0.0.1', T0 + 3000), false, 'not again within the minute');
    // a minute on, the old ones slid out: it takes three new ones to report again
    assert.equal(surge.observe('failures', 'ip', '10.0.0.1', T0 + 61_000), false);
    assert.equal(surge.observe('failures', 'ip', '10.0.0.1', T0 + 62_000), false);
    assert.equal(surge.observe('failures', 'ip', '10.0.0.1', T0 + 63_000), true, 'a new surge a minute later');
    const text = await metrics.registry.metrics();
    assert.match(text, /idp_surges_detected_total\{kind="failures",dimension="ip"\} 2/);
  });

  test('old occurrences slide out of the window', () => {
    const surge = createSurgeDetector({ thresholds: { failures: 3, tokens: 0 }, log });
    surge.observe('failures', 'account', 'a', T0);
    surge.observe('failures', 'account', 'a', T0 + 10_000);
    // 70 s later the first two are gone: two more are not a surge
    assert.equal(surge.observe('failures', 'account', 'a', T0 + 75_000), false);
    assert.equal(surge.observe('failures', 'account', 'a', T0 + 76_000), false);
    assert.equal(surge.observe('failures', 'account', 'a', T0 + 77_000), true);
  });

  test('a threshold of 0 turns a kind off; memory is bounded', () => {
    const surge = createSurgeDetector({ thresholds: { failures: 2, tokens: 0 }, log, maxKeys: 2 });
    for (let i = 0; i < 10; i++) assert.equal(surge.observe('tokens', 'client', 'c', T0 + i), false);
    surge.observe('failures', 'ip', 'a', T0);
    surge.observe('failures', 'ip', 'b', T0);
    surge.observe('failures', 'ip', 'c', T0); // evicts a, the least recently seen
    assert.equal(surge.observe('failures', 'ip', 'a', T0 + 1), false, 'a was forgotten');
    assert.equal(surge.observe('failures', 'ip', 'c', T0 + 1), true);
  });
});
