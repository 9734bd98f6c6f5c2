import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  acceptsAudience,
  exchangedLifetime,
  nextActor,
  subjectIsClient,
  tokenExchangeSettingsOf,
} from '../../../src/services/token-exchange.ts';

describe('token exchange rules', () => {
  test('act nests along a chain, the latest actor outermost', () => {
    const first = nextActor({}, 'a', false);
    assert.deepEqual(first, { sub: 'a' });
    const second = nextActor({ act: first }, 'b', false);
    assert.deepEqual(second, { sub: 'b', act: { sub: 'a' } });
  });

  test('impersonation adds no actor but keeps the ones before it', () => {
    assert.equal(nextActor({}, 'a', true), undefined);
    assert.deepEqual(nextActor({ act: { sub: 'a' } }, 'b', true), { sub: 'a' });
  });

  test('a malformed act from a subject token is not carried on', () => {
    assert.deepEqual(nextActor({ act: 'a' }, 'b', false), { sub: 'b' });
    assert.deepEqual(nextActor({ act: { sub: 1, act: { sub: 'x' } } }, 'b', false), { sub: 'b' });
  });

  test('a chain longer than ten actors is refused', () => {
    let act: unknown;
    for (let i = 0; i < 9; i++) act = nextActor({ act }, `s${i}`, false);
    assert.notEqual(nextActor({ act }, 'tenth', false), 'too_long');
    act = nextActor({ act }, 'tenth', false);
    assert.equal(nextActor({ act }, 'eleventh', false), 'too_long');
  });

  test('the lifetime is the API’s, but never past the subject token', () => {
    assert.equal(exchangedLifetime(300, 1_000 + 3_600, 1_000), 300);
    assert.equal(exchangedLifetime(3_600, 1_000 + 120, 1_000), 120);
    assert.ok(exchangedLifetime(3_600, 999, 1_000) <= 0);
  });

  test('settings and audiences', () => {
    assert.equal(tokenExchangeSettingsOf({}), undefined);
    assert.equal(tokenExchangeSettingsOf({ tokenExchange: { fromAudiences: 'x' } }), undefined);
    const settings = tokenExchangeSettingsOf({ tokenExchange: { fromAudiences: ['https://a.example'] } });
    assert.deepEqual(settings, { fromAudiences: ['https://a.example'], impersonation: false });
    assert.ok(settings && acceptsAudience(settings, ['https://b.example', 'https://a.example']));
    assert.ok(settings && !acceptsAudience(settings, 'https://b.example'));
  });

  test("a client's subject: its own token, or an exchange of one (the claim, not the id's shape)", () => {
    assert.ok(subjectIsClient({ sub: 'svc', client_id: 'svc' }));
    assert.ok(subjectIsClient({ sub: 'svc', client_id: 'other', sub_kind: 'client' }));
    assert.ok(!subjectIsClient({ sub: 'user', client_id: 'other' }));
  });
});
