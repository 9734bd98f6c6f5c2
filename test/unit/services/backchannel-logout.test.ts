import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { createLogger } from '../../../src/logger.ts';
import { createBackchannelLogout } from '../../../src/services/backchannel-logout.ts';
import type { Keystore } from '../../../src/services/keys.ts';
import type {
  BackchannelLogoutRecord,
  BackchannelLogoutRepository,
} from '../../../src/services/ports/backchannel-logouts.ts';
import type { SecurityEventInput } from '../../../src/services/security-events.ts';

/** The queue in memory, recording what the service settled. */
function memoryQueue(rows: BackchannelLogoutRecord[]) {
  const settled: { id: string; how: 'delivered' | 'retry' | 'failed'; attempts?: number; at?: Date }[] = [];
  const repo: BackchannelLogoutRepository = {
    enqueue: async () => {},
    claimDue: async () => rows.splice(0),
    delivered: async (id) => void settled.push({ id, how: 'delivered' }),
    retryAt: async (id, attempts, at) => void settled.push({ id, how: 'retry', attempts, at }),
    failed: async (id, attempts) => void settled.push({ id, how: 'failed', attempts }),
    purgeFailed: async () => 0,
  };
  return { repo, settled };
}

const row = (attempts: number, clientId = 'rp'): BackchannelLogoutRecord => ({
  id: `delivery-${attempts}-${clientId}`,
  clientId,
  subject: 'user-1',
  sid: 'sid-1',
  attempts,
  createdAt: new Date(),
});

describe('back-channel logout deliveries', () => {
  let keystore: Keystore;
  before(async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
    keystore = {
      privateJwks: [jwk],
      publicJwks: [],
      keys: [{ kid: 'rsa-1', alg: 'RS256', current: true, createdAt: new Date(), expiresAt: null }],
    };
  });

  const build = (rows: BackchannelLogoutRecord[], answer: () => Promise<number>) => {
    const queue = memoryQueue(rows);
    const events: SecurityEventInput[] = [];
    const posted: { uri: string; token: string }[] = [];
    const service = createBackchannelLogout({
      issuer: 'https://idp.example',
      repo: queue.repo,
      sessions: { sessionClientsOf: async () => [] },
      clients: {
        resolve: async (id: string) =>
          id === 'rp'
            ? ({ providerMetadata: { backchannel_logout_uri: 'https://rp.example/logout' } } as never)
            : ({ providerMetadata: {} } as never),
      },
      keystore: () => keystore,
      post: async (uri, token) => {
        posted.push({ uri, token });
        return answer();
      },
      events: { record: (e) => void events.push(e) },
      log: createLogger('silent'),
    });
    return { service, settled: queue.settled, events, posted };
  };

  it('signs a logout token (§2.4) whose jti is the delivery id, and settles it on 200', async () => {
    const { service, settled, posted, events } = build([row(0)], async () => 200);
    assert.equal(await service.deliverDue(), 1);
    assert.deepEqual(settled, [{ id: 'delivery-0-rp', how: 'delivered' }]);
    const token = posted[0]?.token ?? '';
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'RS256', typ: 'logout+jwt', kid: 'rsa-1' });
    const claims = decodeJwt(token);
    assert.equal(claims.jti, 'delivery-0-rp');
    assert.equal(claims.aud, 'rp');
    assert.equal(claims.sid, 'sid-1');
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 120);
    assert.equal(events[0]?.type, 'backchannel_logout.delivered');
    assert.doesNotMatch(JSON.stringify(events), /eyJ/);
  });

  it('retries a refused or unanswered delivery on the schedule, then gives up with an event', async () => {
    const first = build([row(0)], async () => 503);
    const start = Date.now();
    await first.service.deliverDue();
    const retry = first.settled[0];
    assert.equal(retry?.how, 'retry');
    assert.equal(retry?.attempts, 1);
    const delay = (retry?.at?.getTime() ?? 0) - start;
    assert.ok(delay >= 4900 && delay < 6000, `first retry after ~5 s, got ${delay} ms`);

    const broken = build([row(3)], () => Promise.reject(new Error('connect ECONNREFUSED')));
    await broken.service.deliverDue();
    assert.equal(broken.settled[0]?.attempts, 4);

    const last = build([row(8)], async () => 500);
    assert.equal(await last.service.deliverDue(), 1);
    assert.deepEqual(last.settled, [{ id: 'delivery-8-rp', how: 'failed', attempts: 9 }]);
    assert.equal(last.events[0]?.type, 'backchannel_logout.failed');
  });

  it('drops a delivery whose client no longer has a logout URI, without a request', async () => {
    const { service, settled, posted } = build([row(0, 'gone')], async () => 200);
    await service.deliverDue();
    assert.equal(posted.length, 0);
    assert.equal(settled[0]?.how, 'delivered');
  });
});
