import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOidcPayloadRepository } from '../../src/db/repositories/oidc-payloads.ts';
import { createPasskeyRepository } from '../../src/db/repositories/passkeys.ts';
import { createChallengeStore } from '../../src/services/webauthn-challenges.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

describe('passkeys: challenge rules and the admin API', () => {
  let server: TestServer;
  let userId: string;

  before(async () => {
    server = await startTestServer();
    userId = (await server.running.app.services.accounts.register({ username: randomName('dave') })).id;
  });
  after(() => server?.close());

  const store = (ttlSeconds?: number) =>
    createChallengeStore({
      payloads: createOidcPayloadRepository(server.running.app.db.prisma, server.running.app.db.query),
      ...(ttlSeconds ? { ttlSeconds } : {}),
    });

  describe('challenges (kept server-side in oidc_payloads)', () => {
    it('accepts a challenge once, for its ceremony and binding, and names the user it was issued for', async () => {
      const challenges = store();
      const c = await challenges.issue('registration', { binding: 'session:s1', userId });
      assert.deepEqual(await challenges.consume(c, 'registration', 'session:s1'), { ok: true, userId });
    });

    it('refuses a challenge used a second time', async () => {
      const challenges = store();
      const c = await challenges.issue('authentication', { binding: 'interaction:a' });
      assert.equal((await challenges.consume(c, 'authentication', 'interaction:a')).ok, true);
      assert.deepEqual(await challenges.consume(c, 'authentication', 'interaction:a'), {
        ok: false,
        reason: 'challenge_used',
      });
    });

    it('lets only one of two concurrent uses through', async () => {
      const challenges = store();
      const c = await challenges.issue('authentication', { binding: 'interaction:b' });
      const results = await Promise.all(
        Array.from({ length: 5 }, () => challenges.consume(c, 'authentication', 'interaction:b')),
      );
      assert.equal(results.filter((r) => r.ok).length, 1);
    });

    it('refuses a challenge issued for the other ceremony, and it is spent by the attempt', async () => {
      const challenges = store();
      const c = await challenges.issue('registration', { binding: 'session:s2', userId });
      assert.deepEqual(await challenges.consume(c, 'authentication', 'session:s2'), {
        ok: false,
        reason: 'wrong_ceremony',
      });
      assert.equal((await challenges.consume(c, 'registration', 'session:s2')).ok, false);
    });

    it('refuses a challenge bound to another interaction or session', async () => {
      const challenges = store();
      const c = await challenges.issue('authentication', { binding: 'interaction:mine' });
      assert.deepEqual(await challenges.consume(c, 'authentication', 'interaction:theirs'), {
        ok: false,
        reason: 'wrong_binding',
      });
    });

    it('refuses an expired challenge and one never issued', async () => {
      const challenges = store(1);
      const c = await challenges.issue('authentication', { binding: 'interaction:slow' });
      await sleep(1100);
      assert.deepEqual(await challenges.consume(c, 'authentication', 'interaction:slow'), {
        ok: false,
        reason: 'unknown_challenge',
      });
      const never = randomBytes(32).toString('base64url');
      assert.equal((await challenges.consume(never, 'authentication', 'interaction:slow')).ok, false);
      assert.equal((await challenges.consume('not base64url!', 'authentication', 'x')).ok, false);
    });
  });

  describe('passkey endpoints of the sign-in pages', () => {
    it('answers a request without an interaction with a JSON 400, never a 5xx', async () => {
      for (const [method, path] of [
        ['GET', '/interaction/nope/passkey/options'],
        ['POST', '/interaction/nope/passkey/verify'],
        ['POST', '/interaction/nope/passkey/register/options'],
      ] as const) {
        const res = await fetch(`${server.url}${path}`, {
          method,
          ...(method === 'GET' ? {} : { body: '{"csrf":"x","response":{}}' }),
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(res.status, 400, path);
        assert.equal(((await res.json()) as { error: string }).error, 'session_not_found');
      }
    });

    it('serves @simplewebauthn/browser from our own origin', async () => {
      const res = await fetch(`${server.url}/static/vendor/simplewebauthn-browser.js`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /javascript/);
      assert.match(await res.text(), /SimpleWebAuthnBrowser/);
    });

    it('sends a visitor without a session from /account to the sign-in page', async () => {
      const res = await fetch(`${server.url}/account`, { redirect: 'manual' });
      assert.equal(res.status, 303);
      const location = new URL(res.headers.get('location') ?? '');
      assert.equal(location.pathname, '/auth');
      assert.equal(location.searchParams.get('client_id'), 'idp-account');
    });
  });

  describe('admin API', () => {
    let passkeyId: string;
    before(async () => {
      passkeyId = randomUUID();
      const stored = await createPasskeyRepository(server.running.app.db.prisma).create({
        id: passkeyId,
        userId,
        credentialId: randomBytes(16).toString('base64url'),
        publicKey: randomBytes(77),
        counter: 7,
        transports: ['internal'],
        backupEligible: true,
        backedUp: true,
        aaguid: '00000000-0000-0000-0000-000000000000',
        name: 'Phone',
      });
      assert.ok(stored);
    });

    it('lists a user’s passkeys with users:read, without the public key', async () => {
      const res = await server.admin<{ data: Record<string, unknown>[] }>(
        'GET',
        `/users/${userId}/passkeys`,
        undefined,
        await server.adminToken('users:read'),
      );
      assert.equal(res.status, 200);
      assert.equal(res.body.data.length, 1);
      const [p] = res.body.data;
      assert.equal(p?.id, passkeyId);
      assert.equal(p?.name, 'Phone');
      assert.equal(p?.counter, 7);
      assert.equal(p?.backup_eligible, true);
      assert.equal(p?.public_key, undefined);
      assert.equal(JSON.stringify(res.body).includes('publicKey'), false);
    });

    it('answers 404 for an unknown user and 403 without a users scope', async () => {
      assert.equal((await server.admin('GET', `/users/${randomUUID()}/passkeys`)).status, 404);
      const clientsOnly = await server.adminToken('clients:read');
      assert.equal((await server.admin('GET', `/users/${userId}/passkeys`, undefined, clientsOnly)).status, 403);
      const readOnly = await server.adminToken('users:read');
      const del = await server.admin('DELETE', `/users/${userId}/passkeys/${passkeyId}`, undefined, readOnly);
      assert.equal(del.status, 403);
    });

    it('removes a passkey with users:write; a second removal is 404', async () => {
      const writer = await server.adminToken('users:write');
      assert.equal(
        (await server.admin('DELETE', `/users/${userId}/passkeys/${passkeyId}`, undefined, writer)).status,
        204,
      );
      assert.equal(
        (await server.admin('DELETE', `/users/${userId}/passkeys/${passkeyId}`, undefined, writer)).status,
        404,
      );
      const listed = await server.admin<{ data: unknown[] }>('GET', `/users/${userId}/passkeys`);
      assert.deepEqual(listed.body.data, []);
    });

    it('takes require_mfa on a client as a boolean only', async () => {
      const bad = await server.admin('POST', '/clients', {
        redirect_uris: ['https://app.example/cb'],
        require_mfa: 'yes',
      });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(bad.body), /require_mfa/);
      const good = await server.admin<{ client_id: string; require_mfa: boolean }>('POST', '/clients', {
        redirect_uris: ['https://app.example/cb'],
        require_mfa: true,
      });
      assert.equal(good.status, 201, JSON.stringify(good.body));
      assert.equal(good.body.require_mfa, true);
    });
  });
});
