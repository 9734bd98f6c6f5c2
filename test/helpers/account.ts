import assert from 'node:assert/strict';
import { type CookieJar, follow, postLogin, type registerWebClient, startSignIn } from './form-signin.ts';
import type { TestServer } from './server.ts';

/** One simulated browser: its cookies, and the refresh token its web application holds. */
export interface Browser {
  jar: CookieJar;
  refreshToken: string;
  headers: Record<string, string>;
}

type WebClient = Awaited<ReturnType<typeof registerWebClient>>;

/**
 * A browser signs in to `client` (a first-party web application asking for `offline_access`)
 * with a password, and the application redeems the code: the browser keeps the session, the
 * application the refresh token.
 */
export async function signInToApp(
  server: TestServer,
  client: WebClient,
  username: string,
  password: string,
  headers: Record<string, string> = {},
): Promise<Browser> {
  const signin = await startSignIn(server, client, headers, { scope: 'openid offline_access', prompt: 'consent' });
  const ok = await postLogin(server, signin, username, password, headers);
  assert.equal(ok.status, 303, ok.html.slice(0, 300));
  const callback = await followWith(server, signin.jar, ok.headers.get('location') as string, headers);
  const code = callback.location?.searchParams.get('code');
  assert.ok(code, `a code: ${callback.html?.slice(0, 300)}`);
  const tokens = await server.token(client.clientId, client.clientSecret, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: client.redirectUri,
    code_verifier: signin.verifier,
  });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  assert.equal(typeof tokens.body.refresh_token, 'string', 'a refresh token (offline_access)');
  return { jar: signin.jar, refreshToken: tokens.body.refresh_token as string, headers };
}

/** The account page as this browser sees it (signed in already: the built-in client passes through). */
export async function accountPage(server: TestServer, jar: CookieJar) {
  const page = await follow(server, jar, '/account');
  return { ...page, csrf: /name="csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '' };
}

/** POSTs an /account form from this browser; the answer is not followed. */
export async function postAccountForm(
  server: TestServer,
  jar: CookieJar,
  path: string,
  fields: Record<string, string>,
) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(path), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });
  jar.store(res);
  return { status: res.status, location: res.headers.get('location'), html: await res.text(), headers: res.headers };
}

/** `follow` with request headers (a browser's User-Agent), until the client's callback. */
async function followWith(server: TestServer, jar: CookieJar, location: string, headers: Record<string, string>) {
  let url = new URL(location, server.url).href.replace(server.issuer, server.url);
  for (let i = 0; i < 8; i++) {
    const res = await fetch(url, {
      redirect: 'manual',
      headers: { ...headers, cookie: jar.header(new URL(url).pathname) },
    });
    jar.store(res);
    const next = res.headers.get('location');
    if (!(res.status >= 300 && res.status < 400 && next)) return { location: undefined, html: await res.text() };
    const target = new URL(next, url);
    if (target.origin !== new URL(server.url).origin && target.origin !== new URL(server.issuer).origin) {
      return { location: target, html: '' };
    }
    url = target.href.replace(server.issuer, server.url);
  }
  throw new Error('too many redirects');
}
