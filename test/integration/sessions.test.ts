import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createPasskeyRepository } from '../../src/db/repositories/passkeys.ts';
import { accountPage, type Browser, postAccountForm, signInToApp } from '../helpers/account.ts';
import type { AdminEvent as Event } from '../helpers/form-signin.ts';
import { createUser, postLogin, registerWebClient, startSignIn, waitForEvents } from '../helpers/form-signin.ts';
import { client, discover } from '../helpers/oidc.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'another horse, another staple';

interface SessionJson {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  ip: string | null;
  userAgent: string | null;
}

describe('sessions people see and end, connected applications, password change', () => {
  let server: TestServer;
  let web: Awaited<ReturnType<typeof registerWebClient>>;
  let oidc: client.Configuration;

  before(async () => {
    server = await startTestServer();
    web = await registerWebClient(server, { first_party: true, client_name: 'Orders web' });
    oidc = await discover(server, web.clientId, web.clientSecret);
  });
  after(() => server?.close());

  const newUser = async () => {
    const username = randomName('ses');
    return { username, id: await createUser(server, username, PASSWORD) };
  };
  const browser = (username: string, userAgent = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0') =>
    signInToApp(server, web, username, PASSWORD, { 'user-agent': userAgent });

  /** refreshes with openid-client; the new refresh token replaces the old in `b` (rotation) */
  const refreshes = async (b: Browser): Promise<boolean> => {
    try {
      const tokens = await client.refreshTokenGrant(oidc, b.refreshToken);
      b.refreshToken = tokens.refresh_token ?? b.refreshToken;
      return true;
    } catch (err) {
      assert.equal((err as { error?: string }).error, 'invalid_grant', String(err));
      return false;
    }
  };
  const sessionsOf = async (userId: string) => {
    const res = await server.admin<SessionJson[]>('GET', `/users/${userId}/sessions`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  };
  /** the session id of a browser: the one its account page marks as current */
  const currentId = async (b: Browser) => {
    const page = await accountPage(server, b.jar);
    const id = /data-session-id="([^"]+)" data-current-session/.exec(page.html)?.[1];
    assert.ok(id, `the current session is marked: ${page.html.slice(0, 300)}`);
    return { id, csrf: page.csrf, html: page.html };
  };
  const signedIn = async (b: Browser) => /id="sessions-section"/.test((await accountPage(server, b.jar)).html);

  test('the sessions are listed, for the admin and on /account, with the current one marked', async () => {
    const user = await newUser();
    const a = await browser(user.username);
    const b = await browser(
      user.username,
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/140.0 Safari/537.36',
    );
    const list = await sessionsOf(user.id);
    assert.equal(list.length, 2);
    for (const s of list) {
      assert.deepEqual(Object.keys(s).sort(), ['createdAt', 'id', 'ip', 'lastSeenAt', 'userAgent']);
      assert.match(s.ip ?? '', /127\.0\.0\.1|::1/);
      assert.ok(Date.parse(s.lastSeenAt) >= Date.parse(s.createdAt));
    }
    assert.deepEqual(list.map((s) => s.userAgent).sort(), [a.headers['user-agent'], b.headers['user-agent']].sort());

    const { id, html } = await currentId(a);
    assert.ok(list.some((s) => s.id === id));
    // the other session is a list item with its revoke button; the current one has none
    const other = list.find((s) => s.id !== id)?.id as string;
    assert.match(html, new RegExp(`data-session-id="${other}"[^>]*>[\\s\\S]*?name="revoke-session" value="${other}"`));
    assert.equal(html.match(/name="revoke-session"/g)?.length, 1);
    assert.match(html, /id="revoke-other-sessions"/);
    assert.match(html, /Chrome on Windows/);
    // the application is connected
    assert.match(html, /Orders web/);
    // nothing of the session's cookie or tokens in the admin's view
    const cookies = a.jar.header();
    for (const s of list)
      for (const part of cookies.split(/[;=]\s*/)) if (part.length > 20) assert.ok(!JSON.stringify(s).includes(part));
  });

  test('lastSeenAt is written at most once a minute per session', async () => {
    const user = await newUser();
    const a = await browser(user.username);
    const [first] = await sessionsOf(user.id);
    await accountPage(server, a.jar);
    await signInToApp(server, web, user.username, PASSWORD).catch(() => undefined);
    await accountPage(server, a.jar);
    const again = (await sessionsOf(user.id)).find((s) => s.id === first?.id);
    assert.equal(again?.lastSeenAt, first?.lastSeenAt, 'unchanged within the minute');
  });

  test('ending one session from /account signs that browser out and ends its refresh tokens; the others stand', async () => {
    const user = await newUser();
    const a = await browser(user.username);
    const b = await browser(user.username);
    const { csrf } = await currentId(a);
    const { id: bId } = await currentId(b);
    const res = await postAccountForm(server, a.jar, `/account/sessions/${bId}/revoke`, { csrf });
    assert.equal(res.status, 303, res.html.slice(0, 300));
    assert.equal(res.location, '/account?notice=session-ended');

    assert.equal(await refreshes(b), false, "the ended session's refresh token (offline_access) is refused");
    assert.equal(await refreshes(a), true, "the other session's refresh token still works");
    assert.equal(await signedIn(b), false, 'the browser of the ended session is signed out');
    assert.equal(await signedIn(a), true);
    assert.deepEqual(
      (await sessionsOf(user.id)).map((s) => s.id),
      [(await currentId(a)).id],
    );
    const events = await waitForEvents<Event>(server, { type: 'session.revoked', subject: user.id });
    assert.equal(events[0]?.actor, user.id);
    assert.equal(events[0]?.details.scope, 'one');
    assert.equal(events[0]?.details.by, 'self');
    assert.doesNotMatch(JSON.stringify(events), new RegExp(b.refreshToken.slice(0, 16)));
  });

  test("attack: a user cannot end another user's session by its id (404), nor through the admin path of another user", async () => {
    const alice = await newUser();
    const mallory = await newUser();
    const victim = await browser(alice.username);
    const attacker = await browser(mallory.username);
    const { id: victimSession } = await currentId(victim);
    const { csrf } = await currentId(attacker);
    const res = await postAccountForm(server, attacker.jar, `/account/sessions/${victimSession}/revoke`, { csrf });
    assert.equal(res.status, 404);
    // nor without the form's CSRF token, nor with the victim's application
    assert.equal(
      (await postAccountForm(server, attacker.jar, `/account/sessions/${victimSession}/revoke`, {})).status,
      403,
    );
    assert.equal(
      (await postAccountForm(server, attacker.jar, `/account/applications/${web.clientId}/revoke`, { csrf })).status,
      303,
      "the attacker's own grant to the same application",
    );
    assert.equal(await refreshes(victim), true, "the victim's session and tokens stand");
    assert.equal(await signedIn(victim), true);
    // an admin naming the wrong user: 404, nothing ended
    const wrong = await server.admin('DELETE', `/users/${mallory.id}/sessions/${victimSession}`);
    assert.equal(wrong.status, 404);
    assert.equal((await sessionsOf(alice.id)).length, 1);
  });

  test('signing out all other sessions from /account keeps this one', async () => {
    const user = await newUser();
    const [a, b, c] = [await browser(user.username), await browser(user.username), await browser(user.username)];
    const { id, csrf } = await currentId(a);
    const res = await postAccountForm(server, a.jar, '/account/sessions/revoke-others', { csrf });
    assert.equal(res.status, 303);
    assert.equal(res.location, '/account?notice=sessions-ended');
    assert.deepEqual(
      (await sessionsOf(user.id)).map((s) => s.id),
      [id],
    );
    assert.equal(await refreshes(b), false);
    assert.equal(await refreshes(c), false);
    assert.equal(await refreshes(a), true);
    assert.equal(await signedIn(b), false);
    assert.equal(await signedIn(a), true);
  });

  test('admin: end one session, then all; scopes; unknown user and bad ids', async () => {
    const user = await newUser();
    const a = await browser(user.username);
    const b = await browser(user.username);
    const { id: aId } = await currentId(a);
    const readOnly = await server.adminToken('users:read');
    assert.equal((await server.admin('GET', `/users/${user.id}/sessions`, undefined, readOnly)).status, 200);
    assert.equal((await server.admin('DELETE', `/users/${user.id}/sessions/${aId}`, undefined, readOnly)).status, 403);
    assert.equal((await server.admin('DELETE', `/users/${user.id}/sessions`, undefined, readOnly)).status, 403);

    assert.equal((await server.admin('DELETE', `/users/${user.id}/sessions/${aId}`)).status, 204);
    assert.equal((await server.admin('DELETE', `/users/${user.id}/sessions/${aId}`)).status, 404, 'once');
    assert.equal(await refreshes(a), false);
    assert.equal(await refreshes(b), true);
    assert.equal((await server.admin('DELETE', `/users/${user.id}/sessions`)).status, 204);
    assert.equal(await refreshes(b), false);
    assert.equal(await signedIn(b), false);
    assert.deepEqual(await sessionsOf(user.id), []);

    const events = await waitForEvents<Event>(
      server,
      { type: 'session.revoked', subject: user.id },
      (e) => e.length >= 4,
    );
    const done = events.filter((e) => e.outcome === 'success');
    assert.equal(done.length, 2, 'one event per admin call (the audit), not two');
    assert.ok(done.every((e) => e.client_id === 'test-admin'));
    assert.equal(events.filter((e) => e.outcome === 'failure').length, 2, 'the refused attempts too');

    assert.equal((await server.admin('GET', '/users/does-not-exist/sessions')).status, 404);
    assert.equal((await server.admin('DELETE', '/users/does-not-exist/sessions')).status, 404);
    for (const bad of ['%00', 'x'.repeat(300), '%F0%9F%98', '%ED%A0%80']) {
      const res = await server.admin('DELETE', `/users/${user.id}/sessions/${bad}`);
      assert.ok(res.status >= 400 && res.status < 500, `${bad}: ${res.status}`);
    }
  });

  test('connected applications: listed, and revoking one ends its grant and tokens but not the session', async () => {
    const user = await newUser();
    const a = await browser(user.username);
    const page = await accountPage(server, a.jar);
    assert.match(page.html, new RegExp(`data-client-id="${web.clientId}"`));
    assert.match(page.html, /offline_access/);
    assert.doesNotMatch(page.html, /data-client-id="idp-account"/, 'the account page itself is not an application');
    const res = await postAccountForm(server, a.jar, `/account/applications/${web.clientId}/revoke`, {
      csrf: page.csrf,
    });
    assert.equal(res.status, 303);
    assert.equal(await refreshes(a), false);
    assert.equal(await signedIn(a), true, 'the session stays');
    assert.doesNotMatch((await accountPage(server, a.jar)).html, new RegExp(`data-client-id="${web.clientId}"`));
    assert.equal(
      (await postAccountForm(server, a.jar, `/account/applications/${web.clientId}/revoke`, { csrf: page.csrf }))
        .status,
      404,
      'nothing left to revoke',
    );
    const events = await waitForEvents<Event>(server, { type: 'consent.revoked', subject: user.id });
    assert.equal(events[0]?.client_id, web.clientId);
  });

  test('changing the password: current password required, policy applied, other sessions and their tokens end', async () => {
    const user = await newUser();
    const a = await browser(user.username);
    const b = await browser(user.username);
    const { csrf } = await currentId(a);
    const change = (fields: Record<string, string>) =>
      postAccountForm(server, a.jar, '/account/password', { csrf, ...fields });

    const wrong = await change({ current_password: 'not it', password: NEW_PASSWORD });
    assert.equal(wrong.status, 400);
    assert.match(wrong.html, /Details: current_password</);
    const weak = await change({ current_password: PASSWORD, password: 'short' });
    assert.equal(weak.status, 400);
    assert.match(weak.html, /at least 8 characters/);
    assert.match(weak.html, /Details: password</);
    assert.equal((await change({ current_password: PASSWORD, password: PASSWORD })).status, 400, 'not the same again');
    assert.equal((await change({ password: NEW_PASSWORD })).status, 400);
    assert.equal(await refreshes(b), true, 'nothing ended by refused changes');

    const ok = await change({ current_password: PASSWORD, password: NEW_PASSWORD });
    assert.equal(ok.status, 303, ok.html.slice(0, 300));
    assert.equal(ok.location, '/account?notice=password-changed');
    assert.equal(await refreshes(b), false, 'the other session’s refresh token ends');
    assert.equal(await signedIn(b), false);
    assert.equal(await refreshes(a), true, 'this session’s stays');
    assert.equal(await signedIn(a), true);

    // the old password no longer signs in, the new one does
    const old = await postLogin(server, await startSignIn(server, web), user.username, PASSWORD);
    assert.equal(old.status, 200);
    const fresh = await postLogin(server, await startSignIn(server, web), user.username, NEW_PASSWORD);
    assert.equal(fresh.status, 303);

    const events = await waitForEvents<Event>(server, { type: 'password.changed', subject: user.id }, (e) =>
      e.some((x) => x.outcome === 'success'),
    );
    assert.ok(events.some((e) => e.outcome === 'failure' && e.details.reason === 'wrong_password'));
    assert.doesNotMatch(JSON.stringify(events), /horse/);
  });

  test('guessing the current password on /account is rate limited per account (a stolen session cannot brute-force it)', async () => {
    const user = await newUser();
    const a = await browser(user.username);
    const { csrf } = await currentId(a);
    const change = (current: string) =>
      postAccountForm(server, a.jar, '/account/password', { csrf, current_password: current, password: NEW_PASSWORD });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await change(`guess ${i}`)).status);
    assert.deepEqual(new Set(statuses.slice(0, 10)), new Set([400]));
    assert.equal(statuses[10], 429);
    const right = await change(PASSWORD);
    assert.equal(right.status, 429, 'refused before the password is checked');
    assert.ok(Number(right.headers.get('retry-after')) > 0);
  });

  test('changing the password with a second factor needs the passkey step-up first', async () => {
    const user = await newUser();
    const a = await browser(user.username);
    await createPasskeyRepository(server.running.app.db.prisma).create({
      id: randomUUID(),
      userId: user.id,
      credentialId: randomUUID(),
      publicKey: new Uint8Array(77),
      counter: 0,
      transports: ['internal'],
      backupEligible: false,
      backedUp: false,
      aaguid: '00000000-0000-0000-0000-000000000000',
      name: 'Phone',
    });
    const { csrf } = await currentId(a);
    const res = await postAccountForm(server, a.jar, '/account/password', {
      csrf,
      current_password: PASSWORD,
      password: NEW_PASSWORD,
    });
    assert.equal(res.status, 303);
    assert.equal(res.location, '/account?notice=step-up');
    const still = await postLogin(server, await startSignIn(server, web), user.username, PASSWORD);
    assert.notEqual(still.status, 200, 'the password did not change');
  });

  test('sessions.endAll ends every session and refresh token of the user (for password reset)', async () => {
    const user = await newUser();
    const a = await browser(user.username);
    const b = await browser(user.username);
    const removed = await server.running.app.services.sessions.endAll(user.id, 'password_reset');
    assert.ok(removed > 0);
    assert.equal(await refreshes(a), false);
    assert.equal(await refreshes(b), false);
    assert.deepEqual(await sessionsOf(user.id), []);
    // the rows of ended sessions go once unseen for a few minutes; a live session's stays
    const live = await newUser();
    await browser(live.username);
    const age = (id: string) =>
      server.running.app.db.prisma.$executeRawUnsafe(
        `UPDATE "user_sessions" SET "last_seen_at" = now() - interval '10 minutes' WHERE "user_id" = $1`,
        id,
      );
    assert.equal(await age(user.id), 2);
    assert.equal(await age(live.id), 1);
    assert.ok((await server.running.app.services.sessions.purge(1000)) >= 2);
    assert.equal(await age(user.id), 0, 'the ended sessions’ rows are gone');
    assert.equal((await sessionsOf(live.id)).length, 1, 'the live one is kept');
  });
});
