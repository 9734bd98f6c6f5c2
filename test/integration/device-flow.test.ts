import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CookieJar, createUser, follow, waitForEvents } from '../helpers/form-signin.ts';
import { client, discover } from '../helpers/oidc.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const PASSWORD = 'device-flow-password-1';

/** RFC 8628 over HTTP: a public CLI client, a person approving on the pages, openid-client polling. */
describe('device authorization grant (RFC 8628)', () => {
  let server: TestServer;
  let clientId: string;
  let username: string;
  let config: client.Configuration;

  before(async () => {
    server = await startTestServer();
    username = randomName('device-user');
    await createUser(server, username, PASSWORD);
    const res = await server.admin<{ client_id: string }>('POST', '/clients', {
      client_name: 'Deploy CLI',
      grant_types: [DEVICE_GRANT, 'refresh_token'],
      token_endpoint_auth_method: 'none',
      scope: 'openid profile offline_access',
      first_party: true,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    clientId = res.body.client_id;
    config = await discover(server, clientId);
  });
  after(() => server?.close());

  /** posts the device form (the page's own fields) with this browser's cookies */
  const postDevice = async (jar: CookieJar, fields: Record<string, string>) => {
    const res = await fetch(`${server.url}/device`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header('/device'), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
    jar.store(res);
    return { status: res.status, headers: res.headers, html: await res.text() };
  };

  /** opens the code page and returns its anti-forgery value */
  const openCodePage = async (jar: CookieJar) => {
    const res = await fetch(`${server.url}/device`, { headers: { cookie: jar.header('/device') } });
    jar.store(res);
    const html = await res.text();
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src/);
    assert.match(html, /name="user_code"/);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    assert.ok(xsrf, 'the page carries the form secret');
    return xsrf;
  };

  /** a raw poll of the token endpoint, as a device would send it */
  const poll = async (deviceCode: string) => {
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  /** enters the code and stops at the confirmation page */
  const enterCode = async (jar: CookieJar, userCode: string) => {
    const xsrf = await openCodePage(jar);
    const confirm = await postDevice(jar, { xsrf, user_code: userCode });
    assert.equal(confirm.status, 200);
    return { xsrf, html: confirm.html };
  };

  /** a person approving `userCode` on the pages: code, confirmation naming the client, the sign-in form */
  const approve = async (userCode: string, options: { typed?: boolean } = {}) => {
    const jar = new CookieJar();
    // lower case and without the dash, as people type it
    const typed = options.typed ? userCode.replace('-', '').toLowerCase() : userCode;
    const { xsrf, html } = await enterCode(jar, typed);
    assert.match(html, /Deploy CLI/, 'the confirmation names the client');
    assert.match(html, new RegExp(userCode), 'and shows the code to compare');
    const confirmed = await postDevice(jar, { xsrf, user_code: userCode, confirm: 'yes' });
    assert.equal(confirmed.status, 303);
    // the normal sign-in page
    const login = await follow(server, jar, confirmed.headers.get('location') ?? '');
    const uid = /\/interaction\/([^/]+)\/login/.exec(login.html)?.[1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(login.html)?.[1];
    assert.ok(uid && csrf, 'the sign-in page');
    const path = `/interaction/${uid}/login`;
    const posted = await fetch(`${server.url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(path), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, username, password: PASSWORD }),
    });
    jar.store(posted);
    assert.equal(posted.status, 303);
    const done = await follow(server, jar, posted.headers.get('location') ?? '');
    assert.equal(done.status, 200);
    assert.match(done.html, /Your device is signed in/);
  };

  it('is advertised in discovery', async () => {
    const res = await fetch(`${server.url}/.well-known/openid-configuration`);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.device_authorization_endpoint, `${server.issuer}/device/auth`);
    assert.ok((body.grant_types_supported as string[]).includes(DEVICE_GRANT));
  });

  it('signs in: pending, slow_down, approval through the pages with the sign-in form, then tokens', async () => {
    const started = await client.initiateDeviceAuthorization(config, { scope: 'openid offline_access' });
    assert.match(started.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.equal(started.verification_uri, `${server.issuer}/device`);
    assert.equal(started.interval, 5);
    assert.ok(started.expires_in > 590 && started.expires_in <= 600, `expires_in ${started.expires_in}`);

    const pending = await poll(started.device_code);
    assert.equal(pending.status, 400);
    assert.equal(pending.body.error, 'authorization_pending');
    // RFC 8628 §3.5: again within the interval
    const fast = await poll(started.device_code);
    assert.equal(fast.status, 400);
    assert.equal(fast.body.error, 'slow_down');

    await approve(started.user_code, { typed: true });

    const tokens = await client.pollDeviceAuthorizationGrant(config, started);
    assert.ok(tokens.access_token);
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    const claims = tokens.claims();
    assert.ok(claims?.sub);
    // single use: the code cannot be polled again for a second set of tokens
    await new Promise((r) => setTimeout(r, 5100));
    const again = await poll(started.device_code);
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
    await waitForEvents(server, { type: 'device.approved' });
  });

  it('cancelled on the confirmation page: the device gets access_denied', async () => {
    const started = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
    const jar = new CookieJar();
    const { xsrf } = await enterCode(jar, started.user_code);
    const aborted = await postDevice(jar, { xsrf, user_code: started.user_code, abort: 'yes' });
    assert.equal(aborted.status, 200);
    assert.match(aborted.html, /cancelled/);
    const denied = await poll(started.device_code);
    assert.equal(denied.body.error, 'access_denied');
    await waitForEvents(server, { type: 'device.denied' });
  });

  it('an expired code: the page refuses it and the device gets expired_token or invalid_grant', async () => {
    const started = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
    const past = Math.floor(Date.now() / 1000) - 5;
    await server.running.app.db.prisma.$executeRawUnsafe(
      `UPDATE "oidc_payloads" SET "payload" = jsonb_set("payload", '{exp}', to_jsonb($1::int)), "expires_at" = now() - interval '5 seconds'
       WHERE "model" = 'DeviceCode' AND "user_code" = $2`,
      past,
      started.user_code.replace('-', ''),
    );
    const jar = new CookieJar();
    const xsrf = await openCodePage(jar);
    const refused = await postDevice(jar, { xsrf, user_code: started.user_code });
    assert.equal(refused.status, 200);
    assert.match(refused.html, /not valid/);
    const res = await poll(started.device_code);
    assert.equal(res.status, 400);
    assert.ok(['expired_token', 'invalid_grant'].includes(String(res.body.error)), String(res.body.error));
  });

  it('a client without the grant cannot start a device sign-in', async () => {
    const other = await server.admin<{ client_id: string }>('POST', '/clients', {
      client_name: 'Web only',
      redirect_uris: ['https://app.example/cb'],
      token_endpoint_auth_method: 'none',
    });
    const res = await fetch(`${server.url}/device/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: other.body.client_id, scope: 'openid' }),
    });
    const body = (await res.json()) as { error: string; error_description: string };
    assert.equal(res.status, 400);
    // oidc-provider's answer: invalid_request naming the grant
    assert.equal(body.error, 'invalid_request');
    assert.match(body.error_description, /device_code is not allowed for this client/);
  });

  it('the admin API refuses an unknown grant type, naming the field', async () => {
    const bad = await server.admin<{ details: { field: string }[] }>('POST', '/clients', {
      grant_types: ['urn:ietf:params:oauth:grant-type:device_codeX'],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(bad.status, 400);
    assert.ok(bad.body.details.some((d) => d.field.startsWith('grant_types')));
  });

  it('npm run idp -- login: prints the address and code, waits for approval, saves the tokens 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idp-login-'));
    const tokenFile = join(dir, 'nested', 'tokens.json');
    const child = spawn(
      process.execPath,
      [
        '--experimental-strip-types',
        '--disable-warning=ExperimentalWarning',
        'src/cli/main.ts',
        'login',
        '--url',
        server.issuer,
        '--client-id',
        clientId,
        '--token-file',
        tokenFile,
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const code = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const found = /enter the code ([A-Z]{4}-[A-Z]{4})/.exec(stderr)?.[1];
        if (found) resolve(found);
      });
      child.on('exit', () => reject(new Error(`login exited early: ${stderr}`)));
    });
    assert.match(stderr, new RegExp(`open ${server.issuer}/device and enter the code`));
    await approve(code);
    const [exitCode] = (await once(child, 'exit')) as [number];
    assert.equal(exitCode, 0, stderr);
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    assert.equal(statSync(dirname(tokenFile)).mode & 0o777, 0o700);
    const saved = JSON.parse(readFileSync(tokenFile, 'utf8')) as Record<string, unknown>;
    assert.equal(saved.issuer, server.issuer);
    assert.ok(typeof saved.access_token === 'string' && typeof saved.refresh_token === 'string');
    assert.equal(JSON.parse(stdout).access_token, saved.access_token);
    rmSync(dir, { recursive: true, force: true });
  });

  it('wrong codes from one address are throttled, with Retry-After, and recorded', async () => {
    const jar = new CookieJar();
    let xsrf = await openCodePage(jar);
    let last = { status: 0, headers: new Headers(), html: '' };
    for (let i = 0; i < 11; i++) {
      last = await postDevice(jar, { xsrf, user_code: 'BCDF-GHJK' });
      if (last.status === 429) break;
      assert.match(last.html, /not valid/);
      // each page carries a fresh form secret, as a browser would send it
      xsrf = /name="xsrf" value="([^"]+)"/.exec(last.html)?.[1] ?? '';
    }
    assert.equal(last.status, 429);
    assert.ok(Number(last.headers.get('retry-after')) > 0);
    // a right code from that address waits too: nothing is looked up while over the limit
    const started = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
    const blocked = await postDevice(jar, { xsrf, user_code: started.user_code });
    assert.equal(blocked.status, 429);
    const events = await waitForEvents(server, { type: 'device.code_rejected' }, (e) => e.length >= 10);
    assert.ok(events.length >= 10);
    // no user code or secret in the events
    assert.doesNotMatch(JSON.stringify(events), /BCDF/);
  });
});
