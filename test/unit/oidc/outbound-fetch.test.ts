import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mayIntrospect } from '../../../src/oidc/introspection-policy.ts';
import { isSpecialUseAddress, outboundFetch } from '../../../src/oidc/outbound-fetch.ts';

describe('outbound fetch', () => {
  test('special-use addresses in every form are refused', () => {
    for (const address of [
      '127.0.0.1',
      '0.0.0.0',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '::',
      '::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '64:ff9b::7f00:1',
      'fc00::1',
      'fd12::1',
      'fe80::1',
      '2002:7f00:1::',
      'not-an-ip',
    ]) {
      assert.equal(isSpecialUseAddress(address), true, address);
    }
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111']) {
      assert.equal(isSpecialUseAddress(address), false, address);
    }
  });

  test('regression: http, IP literals in any spelling and names resolving to loopback are refused before connecting', async () => {
    for (const url of [
      'http://example.com/jwks',
      'https://127.0.0.1:1/jwks',
      'https://2130706433:1/jwks',
      'https://0177.0.0.1:1/jwks',
      'https://0x7f.1:1/jwks',
      'https://[::1]:1/jwks',
      'https://[::ffff:127.0.0.1]:1/jwks',
      'https://localhost:1/jwks',
    ]) {
      await assert.rejects(outboundFetch(url), /RefusedTarget|not a public|non-public|only https/, url);
    }
  });
});

describe('introspection policy', () => {
  const caller = (clientId: string, audiences?: string[], clientAuthMethod = 'client_secret_basic') => ({
    clientId,
    clientAuthMethod,
    metadata: () => (audiences ? { introspection_audiences: audiences } : {}),
  });
  test('the own client, or the resource server an admin named; refresh tokens only to their client', () => {
    const token = { kind: 'AccessToken', clientId: 'svc', aud: 'https://api.example' };
    assert.equal(mayIntrospect(caller('svc'), token), true);
    assert.equal(mayIntrospect(caller('other'), token), false);
    assert.equal(mayIntrospect(caller('api', ['https://api.example']), token), true);
    assert.equal(mayIntrospect(caller('api', ['https://api.example'], 'none'), token), false);
    assert.equal(mayIntrospect(caller('api', ['https://other.example']), token), false);
    const refresh = { kind: 'RefreshToken', clientId: 'app', aud: 'https://api.example' };
    assert.equal(mayIntrospect(caller('app'), refresh), true);
    assert.equal(mayIntrospect(caller('api', ['https://api.example']), refresh), false);
  });
});
