import assert from 'node:assert/strict';
import { pbkdf2 } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { mayIntrospect } from '../../../src/oidc/introspection-policy.ts';
import { createOutboundFetch, isSpecialUseAddress, outboundFetch } from '../../../src/oidc/outbound-fetch.ts';

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

describe('outbound fetch: DNS', () => {
  /** answers from a table, as a DNS server would (ENODATA for a family it has nothing for) */
  const table = (answers: Record<string, { a?: string[]; aaaa?: string[] }>) => {
    const asked: string[] = [];
    const answer = (list: string[] | undefined) =>
      list ? Promise.resolve(list) : Promise.reject(Object.assign(new Error('queryA ENODATA'), { code: 'ENODATA' }));
    return {
      asked,
      resolve4: (host: string) => {
        asked.push(host);
        return answer(answers[host]?.a);
      },
      resolve6: (host: string) => answer(answers[host]?.aaaa),
    };
  };

  test('every address of a name is checked: one non-public answer, of either family, refuses it', async () => {
    const resolver = table({
      'v4-private.test': { a: ['10.0.0.7'] },
      'v6-loopback.test': { a: ['93.184.215.14'], aaaa: ['::1'] },
      'mixed.test': { a: ['93.184.215.14', '169.254.169.254'] },
      'mapped.test': { aaaa: ['::ffff:127.0.0.1'] },
      'nothing.test': {},
    });
    const fetch = createOutboundFetch({ resolver });
    for (const host of ['v4-private.test', 'v6-loopback.test', 'mixed.test', 'mapped.test']) {
      await assert.rejects(fetch(`https://${host}/jwks`), /non-public/, host);
    }
    await assert.rejects(fetch('https://nothing.test/jwks'), /ENODATA|no address/);
    // localhost names never reach a DNS server (RFC 6761 §6.3)
    await assert.rejects(fetch('https://jwks.localhost/jwks'), /non-public/);
    assert.ok(!resolver.asked.includes('jwks.localhost'));
  });

  test('regression: a DNS server that never answers held argon2’s thread pool (dns.lookup); c-ares gives up on time', async () => {
    // a DNS server that takes every query and answers none
    const silent = createSocket('udp4');
    const queries: Buffer[] = [];
    silent.on('message', (message) => queries.push(message));
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
    try {
      const resolver = new Resolver({ timeout: 400, tries: 1 });
      resolver.setServers([`127.0.0.1:${silent.address().port}`]);
      const fetch = createOutboundFetch({ resolver });
      const started = performance.now();
      // more hanging names than the thread pool has threads (UV_THREADPOOL_SIZE, 4 by default)
      const pending = Array.from({ length: 8 }, (_, i) =>
        fetch(`https://jwks-${i}.slow.test/jwks`, { signal: AbortSignal.timeout(5000) }).then(
          () => 'answered',
          (err: NodeJS.ErrnoException) => err.code ?? err.message,
        ),
      );
      // meanwhile the thread pool is free: four hashes do not wait for DNS
      const hashing = performance.now();
      await Promise.all(Array.from({ length: 4 }, () => promisify(pbkdf2)('pw', 'salt', 1000, 32, 'sha256')));
      assert.ok(performance.now() - hashing < 300, 'the thread pool waited for DNS');
      const outcomes = await Promise.all(pending);
      assert.ok(
        outcomes.every((o) => o === 'ETIMEOUT'),
        outcomes.join(','),
      );
      assert.ok(performance.now() - started < 3000, 'the lookups ended at the resolver timeout');
      assert.ok(queries.length >= 8, 'the queries went to the resolver given');
    } finally {
      silent.close();
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
