import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLifetime } from '../../../src/wiring/lifetime.ts';

describe('lifetime', () => {
  test('closes what was opened in reverse order, once, however often close is called', async () => {
    const lifetime = createLifetime();
    const closed: string[] = [];
    lifetime.defer(() => closed.push('database'));
    lifetime.defer(async () => closed.push('redis'));
    lifetime.defer(() => closed.push('timer'));
    await Promise.all([lifetime.close(), lifetime.close()]);
    await lifetime.close();
    assert.deepEqual(closed, ['timer', 'redis', 'database']);
  });

  test('a failing close does not stop the others; the first failure is reported after all ran', async () => {
    const lifetime = createLifetime();
    const closed: string[] = [];
    lifetime.defer(() => closed.push('database'));
    lifetime.defer(() => {
      throw new Error('redis would not close');
    });
    lifetime.defer(() => {
      throw new Error('metrics port would not close');
    });
    await assert.rejects(lifetime.close(), /metrics port would not close/);
    assert.deepEqual(closed, ['database']);
  });

  test('nothing can be deferred once it has ended', async () => {
    const lifetime = createLifetime();
    await lifetime.close();
    assert.throws(() => lifetime.defer(() => {}), /ended/);
  });
});
