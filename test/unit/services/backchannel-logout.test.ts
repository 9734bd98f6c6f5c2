import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { BACKCHANNEL_LOGOUT_KIND, createBackchannelLogout } from '../../../src/services/backchannel-logout.ts';
import type { Keystore } from '../../../src/services/keys.ts';
import { type OutboxHandler, PermanentFailure } from '../../../src/services/outbox.ts';
import type { SecurityEventInput } from '../../../src/services/security-events.ts';

const delivery = { clientId: 'rp', subject: 'user-1', sid: 'sid-1' };

describe('back-channel logout through the outbox', () => {
  let keystore: Keystore;
  before(async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
    keystore = {
      privateJwks: [jwk],
      publicJwks: [],
      nextChange: null,
      keys: [
        {
          kid: 'rsa-1',
          alg: 'RS256',
          state: 'active',
          createdAt: new Date(),
          activatesAt: new Date(),
          retiredAt: null,
          expiresAt: null,
        },
      ],
    };
  });

  /** the service over an outbox that keeps what was queued and the handler it was given */
  const build = (answer: () => Promise<number>) => {
    let handler: OutboxHandler | undefined;
    const queued: { kind: string; payload: unknown; maxAttempts: number | undefined }[] = [];
    const events: SecurityEventInput[] = [];
    const posted: { uri: string; token: string }[] = [];
    const service = createBackchannelLogout({
      issuer: 'https://idp.example',
      outbox: {
        register: (_kind, h) => {
          handler = h;
        },
        enqueue: async (kind, payload, options) => {
          queued.push({ kind, payload, maxAttempts: options?.maxAttempts });
          return `row-${queued.length}`;
        },
      },
      sessions: {
        sessionClientsOf: async () => [
          { clientId: 'rp', sid: 'sid-1' },
          { clientId: 'plain', sid: 'sid-2' },
        ],
      },
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
    });
    assert.ok(handler, 'a handler is registered');
    return { service, handler, queued, events, posted };
  };

  it('queues one delivery per session client that has a logout URI', async () => {
    const { service, queued } = build(async () => 200);
    await service.sessionsEnding('user-1');
    await service.notify('plain', 'user-1', 'sid-3');
    assert.deepEqual(queued, [{ kind: BACKCHANNEL_LOGOUT_KIND, payload: delivery, maxAttempts: 12 }]);
  });

  it('signs a logout token (§2.4) whose jti is the outbox row id, the same on every attempt', async () => {
    const { handler, posted, events } = build(async () => 204);
    await handler.handle(delivery, { id: 'row-7', attempt: 1 });
    await handler.handle(delivery, { id: 'row-7', attempt: 2 });
    const [first, second] = posted.map((p) => decodeJwt(p.token));
    assert.deepEqual(decodeProtectedHeader(posted[0]?.token ?? ''), { alg: 'RS256', typ: 'logout+jwt', kid: 'rsa-1' });
    assert.equal(first?.jti, 'row-7');
    assert.equal(second?.jti, 'row-7');
    assert.equal(first?.aud, 'rp');
    assert.equal(first?.sub, 'user-1');
    assert.equal(first?.sid, 'sid-1');
    assert.equal((first?.exp ?? 0) - (first?.iat ?? 0), 120);
    assert.equal(events[0]?.type, 'backchannel_logout.delivered');
    assert.doesNotMatch(JSON.stringify(events), /eyJ/);
  });

  it('a refusal or no answer throws (the outbox retries); the last attempt records the failure', async () => {
    const refused = build(async () => 503);
    await assert.rejects(refused.handler.handle(delivery, { id: 'r', attempt: 1 }), /answered 503/);
    assert.equal(refused.events.length, 0);
    const down = build(() => Promise.reject(new Error('connect ECONNREFUSED')));
    await assert.rejects(down.handler.handle(delivery, { id: 'r', attempt: 12 }), /ECONNREFUSED/);
    assert.equal(down.events[0]?.type, 'backchannel_logout.failed');
    assert.equal(down.events[0]?.outcome, 'failure');
  });

  it('a client that no longer has a logout URI gets nothing; a malformed row is dead at once', async () => {
    const { handler, posted } = build(async () => 200);
    await handler.handle({ ...delivery, clientId: 'plain' }, { id: 'r', attempt: 1 });
    assert.equal(posted.length, 0);
    await assert.rejects(handler.handle({ clientId: 'rp' }, { id: 'r', attempt: 1 }), PermanentFailure);
    assert.deepEqual(handler.summary(delivery), delivery);
  });
});
