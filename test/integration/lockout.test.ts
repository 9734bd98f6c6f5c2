import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AdminEvent as Event } from '../helpers/form-signin.ts';
import {
  createUser,
  metricValue,
  postLogin,
  registerWebClient,
  startSignIn,
  waitForEvents,
} from '../helpers/form-signin.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'correct horse battery staple';
const LOCK_SECONDS = 3;
const DELAY_MS = 150;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const from = (ip: string) => ({ 'x-forwarded-for': ip });

// counters in memory, and in Redis as several instances would share them
for (const store of ['memory', 'redis'] as const) {
  describe(`brute-force protection of password sign-in (${store})`, () => {
    let server: TestServer;
    let web: { clientId: string; redirectUri: string };

    before(async () => {
      server = await startTestServer({
        env: {
          TRUST_PROXY: 'true',
          LOCKOUT_THRESHOLD: '3',
          LOCKOUT_ACCOUNT_THRESHOLD: '5',
          LOCKOUT_SECONDS: String(LOCK_SECONDS),
          SIGNIN_DELAY_MS: String(DELAY_MS),
          RATE_LIMIT_SIGNIN_IP: '1000',
          RATE_LIMIT_SIGNIN_ACCOUNT: '1000',
          ...(store === 'redis' ? { REDIS_URL: 'redis://127.0.0.1:6379' } : {}),
        },
      });
      web = await registerWebClient(server, { first_party: true });
    });
    after(() => server?.close());

    test('progressive delay, then a lock of the account from that address only; the lock expires', async () => {
      const userId = await createUser(server, 'pair-victim', PASSWORD);
      const signin = await startSignIn(server, web);
      const first = await postLogin(server, signin, 'pair-victim', 'guess 1', from('10.10.0.1'));
      const second = await postLogin(server, signin, 'pair-victim', 'guess 2', from('10.10.0.1'));
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      // after two failures every attempt waits first
      const third = await postLogin(server, signin, 'pair-victim', 'guess 3', from('10.10.0.1'));
      assert.equal(third.status, 200);
      assert.ok(third.ms >= DELAY_MS * 0.9, `the third attempt took ${third.ms} ms`);

      // locked now from 10.10.0.1, even with the right password
      const locked = await postLogin(server, signin, 'pair-victim', PASSWORD, from('10.10.0.1'));
      assert.equal(locked.status, 429);
      assert.match(locked.html, /Too many failed sign-in attempts/);
      assert.ok(Number(locked.headers.get('retry-after')) >= 1);

      // the real user elsewhere still signs in
      const elsewhere = await postLogin(
        server,
        await startSignIn(server, web),
        'pair-victim',
        PASSWORD,
        from('10.10.0.2'),
      );
      assert.equal(elsewhere.status, 303);

      const locks = await waitForEvents<Event>(server, { type: 'signin.locked', subject: userId });
      assert.equal(locks[0]?.details.scope, 'account_ip');
      assert.equal(locks[0]?.ip, '10.10.0.1');
      assert.ok((await metricValue(server, 'idp_lockouts_total', { scope: 'account_ip' })) >= 1);

      await sleep(LOCK_SECONDS * 1000 + 200);
      const after = await postLogin(server, signin, 'pair-victim', PASSWORD, from('10.10.0.1'));
      assert.equal(after.status, 303, 'the lock expires on its own');
    });

    test('many addresses together lock the account everywhere; an admin unlocks it', async () => {
      const userId = await createUser(server, 'spray-victim', PASSWORD);
      const signin = await startSignIn(server, web);
      // five addresses, one failure each: no pair is locked, the account-wide count reaches 5
      for (let i = 1; i <= 5; i++) {
        const res = await postLogin(server, signin, 'spray-victim', `guess ${i}`, from(`10.11.0.${i}`));
        assert.equal(res.status, 200);
      }
      const blocked = await postLogin(
        server,
        await startSignIn(server, web),
        'spray-victim',
        PASSWORD,
        from('10.11.1.1'),
      );
      assert.equal(blocked.status, 429, 'locked for everyone');
      const locks = await waitForEvents<Event>(server, { type: 'signin.locked', subject: userId });
      assert.equal(locks[0]?.details.scope, 'account');

      // unlock needs users:write
      const readOnly = await server.adminToken('users:read');
      assert.equal((await server.admin('POST', `/users/${userId}/unlock`, undefined, readOnly)).status, 403);
      assert.equal((await server.admin('POST', '/users/no-such-user/unlock')).status, 404);
      assert.equal((await server.admin('POST', `/users/${userId}/unlock`)).status, 204);

      const unlocked = await postLogin(
        server,
        await startSignIn(server, web),
        'spray-victim',
        PASSWORD,
        from('10.11.1.1'),
      );
      assert.equal(unlocked.status, 303);
      const audit = await waitForEvents<Event & { actor: string }>(server, { type: 'user.unlocked', subject: userId });
      assert.equal(audit[0]?.actor, 'test-admin', 'the admin who unlocked is recorded');
    });

    test('unlock also lifts the locks per address', async () => {
      const userId = await createUser(server, 'unlock-pair', PASSWORD);
      const signin = await startSignIn(server, web);
      for (let i = 0; i < 3; i++) await postLogin(server, signin, 'unlock-pair', 'wrong', from('10.12.0.1'));
      assert.equal((await postLogin(server, signin, 'unlock-pair', PASSWORD, from('10.12.0.1'))).status, 429);
      assert.equal((await server.admin('POST', `/users/${userId}/unlock`)).status, 204);
      assert.equal((await postLogin(server, signin, 'unlock-pair', PASSWORD, from('10.12.0.1'))).status, 303);
    });

    test('an unknown name is delayed and locked exactly like a real one (nothing to enumerate)', async () => {
      const signin = await startSignIn(server, web);
      const pages: string[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await postLogin(server, signin, 'nobody-here', 'wrong', from('10.13.0.1'));
        pages.push(`${res.status}`);
      }
      assert.deepEqual(pages, ['200', '200', '200', '429']);
    });
  });
}
