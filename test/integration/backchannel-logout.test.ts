import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import {
  createUser,
  follow,
  postLogin,
  registerWebClient,
  startSignIn,
  waitForEvents,
} from '../helpers/form-signin.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const PASSWORD = 'backchannel-password-1';

/** A relying party's back-channel logout endpoint: records each logout token; answers `status()`. */
function startReceiver() {
  const received: { token: string; contentType: string | undefined }[] = [];
  const waiters: (() => void)[] = [];
  let answer = 200;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      const token = new URLSearchParams(body).get('logout_token') ?? '';
      received.push({ token, contentType: req.headers['content-type'] });
      res.writeHead(answer).end();
      for (const wake of waiters.splice(0)) wake();
    });
  });
  return {
    received,
    setAnswer: (status: number) => {
      answer = status;
    },
    async listen() {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel-logout`;
    },
    /** resolves once `count` tokens have arrived */
    async until(count: number, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`only ${received.length} of ${count} logout tokens arrived`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 250);
        });
      }
      return received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('back-channel logout (OpenID Connect Back-Channel Logout 1.0)', () => {
  let server: TestServer;
  let receiver: ReturnType<typeof startReceiver>;
  let app: Awaited<ReturnType<typeof registerWebClient>>;
  let userId: string;
  let username: string;
  let jwks: ReturnType<typeof createRemoteJWKSet>;

  before(async () => {
    server = await startTestServer();
    receiver = startReceiver();
    const uri = await receiver.listen();
    app = await registerWebClient(server, {
      backchannel_logout_uri: uri,
      backchannel_logout_session_required: true,
      first_party: true,
    });
    username = randomName('bcl');
    userId = await createUser(server, username, PASSWORD);
    jwks = createRemoteJWKSet(new URL(`${server.url}/jwks`));
  });
  after(async () => {
    await server?.close();
    await receiver?.close();
  });

  /** signs in through the pages and redeems the code: the browser's cookies and the ID token's sid */
  const signIn = async () => {
    const interaction = await startSignIn(server, app, {}, { scope: 'openid' });
    const login = await postLogin(server, interaction, username, PASSWORD);
    assert.equal(login.status, 303);
    const back = await follow(server, interaction.jar, login.headers.get('location') ?? '');
    const code = back.location?.searchParams.get('code');
    assert.ok(code, 'redirected to the client with a code');
    const tokens = await server.token(app.clientId, app.clientSecret, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: app.redirectUri,
      code_verifier: interaction.verifier,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const sid = decodeJwt(String(tokens.body.id_token)).sid;
    assert.equal(typeof sid, 'string');
    return { jar: interaction.jar, sid: sid as string };
  };

  /** verifies a logout token as a relying party must (§2.6), with the server's JWKS */
  const verify = async (token: string, sid: string) => {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: server.issuer,
      audience: app.clientId,
      typ: 'logout+jwt',
    });
    assert.equal(payload.sub, userId);
    assert.equal(payload.sid, sid);
    assert.deepEqual(payload.events, { [EVENT]: {} });
    assert.equal(typeof payload.jti, 'string');
    assert.equal(payload.nonce, undefined, '§2.4: a logout token has no nonce');
    assert.ok((payload.exp ?? 0) - (payload.iat ?? 0) <= 120, 'short-lived');
    assert.ok(protectedHeader.kid);
    return payload;
  };

  it('is advertised in discovery', async () => {
    const body = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(body.backchannel_logout_supported, true);
    assert.equal(body.backchannel_logout_session_supported, true);
  });

  it('the admin API takes https or loopback http URIs only, and names the field', async () => {
    for (const uri of [
      'http://example.com/logout',
      'https://app.example/logout#x',
      'ftp://app.example/',
      'https://u:p@app.example/',
    ]) {
      const res = await server.admin<{ details: { field: string }[] }>('PATCH', `/clients/${app.clientId}`, {
        backchannel_logout_uri: uri,
      });
      assert.equal(res.status, 400, uri);
      assert.ok(
        res.body.details.some((d) => d.field === 'backchannel_logout_uri'),
        uri,
      );
    }
    const ok = await server.admin('POST', '/clients', {
      redirect_uris: ['https://rp.example/cb'],
      backchannel_logout_uri: 'https://rp.example/backchannel',
    });
    assert.equal(ok.status, 201);
    assert.equal(ok.body.backchannel_logout_uri, 'https://rp.example/backchannel');
  });

  it('sign-out at end_session sends a logout token with the session id', async () => {
    const before = receiver.received.length;
    const { jar, sid } = await signIn();
    const page = await fetch(`${server.url}/session/end?client_id=${app.clientId}`, {
      headers: { cookie: jar.header('/session/end') },
    });
    jar.store(page);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(await page.text())?.[1];
    assert.ok(xsrf, 'the sign-out page');
    const confirmed = await fetch(`${server.url}/session/end/confirm`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header('/session/end/confirm'), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }),
    });
    assert.equal(confirmed.status, 303);
    const [got] = (await receiver.until(before + 1)).slice(before);
    assert.ok(got);
    assert.equal(got.contentType, 'application/x-www-form-urlencoded');
    await verify(got.token, sid);
  });

  it('an admin ending the sessions sends a logout token for each', async () => {
    const before = receiver.received.length;
    const first = await signIn();
    const second = await signIn();
    // what DELETE /admin/users/{id}/sessions calls
    await server.running.app.services.accounts.endSessions(userId, 'admin', 'test-admin');
    const got = (await receiver.until(before + 2)).slice(before);
    const sids = await Promise.all(got.map(async (r) => (await verify(r.token, String(decodeJwt(r.token).sid))).sid));
    assert.deepEqual(new Set(sids), new Set([first.sid, second.sid]));
  });

  it('a password set by an admin ends the sessions and sends their logout tokens', async () => {
    const before = receiver.received.length;
    const { sid } = await signIn();
    const res = await server.admin('PATCH', `/users/${userId}`, { password: 'a-new-password-for-bcl-2' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // sign in with the new password from here on
    await server.admin('PATCH', `/users/${userId}`, { password: PASSWORD });
    const got = (await receiver.until(before + 1)).slice(before);
    assert.ok(got[0]);
    await verify(got[0].token, sid);
  });

  it('a receiver that is down gets the same token id again until it answers', async () => {
    const { sid } = await signIn();
    receiver.setAnswer(503);
    const before = receiver.received.length;
    await server.running.app.services.accounts.endSessions(userId, 'admin');
    await receiver.until(before + 1);
    receiver.setAnswer(200);
    // first retry after 5 seconds (checked every 2)
    const got = (await receiver.until(before + 2)).slice(before);
    const [first, second] = await Promise.all(got.slice(0, 2).map((r) => verify(r.token, sid)));
    assert.equal(first?.jti, second?.jti, 'the same jti on every attempt');
    const events = await waitForEvents(server, { type: 'backchannel_logout.delivered' }, (e) =>
      e.some((event) => (event as { details?: { attempts?: number } }).details?.attempts === 2),
    );
    assert.ok(events.length > 0);
    assert.doesNotMatch(JSON.stringify(events), /eyJ/, 'no token in the events');
  });
});
