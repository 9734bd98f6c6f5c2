import { createHash, randomBytes } from 'node:crypto';
import { CookieJar } from './cookie-jar.ts';
import type { TestServer } from './server.ts';

/** the jar the sign-in helpers fill, for tests that build their own requests */
export { CookieJar } from './cookie-jar.ts';

export interface Interaction {
  jar: CookieJar;
  uid: string;
  csrf: string;
}

/** Registers a web application client that may use the code flow, returning its id and redirect URI. */
export async function registerWebClient(server: TestServer, extra: Record<string, unknown> = {}) {
  const redirectUri = 'http://localhost:9/callback';
  const res = await server.admin<{ client_id: string; client_secret: string }>('POST', '/clients', {
    client_name: 'Web app',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid profile offline_access',
    ...extra,
  });
  if (res.status !== 201) throw new Error(`register web client: ${res.status} ${JSON.stringify(res.body)}`);
  return { clientId: res.body.client_id, clientSecret: res.body.client_secret, redirectUri };
}

export async function createUser(server: TestServer, username: string, password: string): Promise<string> {
  const res = await server.admin<{ id: string }>('POST', '/users', { username, password });
  if (res.status !== 201) throw new Error(`create user: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/**
 * Starts an authorization request the way a browser would (cookies kept, redirects followed by
 * hand) and stops at the sign-in page, returning what its form needs.
 */
export async function startSignIn(
  server: TestServer,
  client: { clientId: string; redirectUri: string },
  headers: Record<string, string> = {},
  extra: Record<string, string> = {},
): Promise<Interaction & { verifier: string }> {
  const jar = new CookieJar();
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    scope: 'openid',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
    ...extra,
  });
  let url = `${server.url}/auth?${params}`;
  for (let i = 0; i < 5; i++) {
    const res = await fetch(url, {
      redirect: 'manual',
      headers: { ...headers, cookie: jar.header(new URL(url).pathname) },
    });
    jar.store(res);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, server.url).href.replace(server.issuer, server.url);
      continue;
    }
    const html = await res.text();
    const uid = /\/interaction\/([^/]+)\/login/.exec(html)?.[1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    if (res.status !== 200 || !uid || !csrf) throw new Error(`no sign-in page: ${res.status} ${html.slice(0, 200)}`);
    return { jar, uid, csrf, verifier };
  }
  throw new Error('too many redirects before the sign-in page');
}

/** POSTs the login form of `interaction`; the answer is not followed. */
export async function postLogin(
  server: TestServer,
  interaction: Interaction,
  username: string,
  password: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; html: string; ms: number }> {
  const start = performance.now();
  const path = `/interaction/${interaction.uid}/login`;
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      ...headers,
      cookie: interaction.jar.header(path),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ csrf: interaction.csrf, username, password }),
  });
  interaction.jar.store(res);
  const html = await res.text();
  return { status: res.status, headers: res.headers, html, ms: performance.now() - start };
}

/** A security event as `GET /admin/events` lists it. */
export interface AdminEvent {
  id: string;
  type: string;
  time: string;
  outcome: string;
  actor: string | null;
  subject: string | null;
  client_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
}

/** Polls GET /admin/events until `accept` is satisfied (events are written in batches, every 250 ms). */
export async function waitForEvents<T = Record<string, unknown>>(
  server: TestServer,
  query: Record<string, string>,
  accept: (events: T[]) => boolean = (events) => events.length > 0,
  timeoutMs = 5000,
): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await server.admin<{ data: T[] }>('GET', `/events?${new URLSearchParams(query)}`);
    if (res.status !== 200) throw new Error(`GET /admin/events: ${res.status} ${JSON.stringify(res.body)}`);
    if (accept(res.body.data) || Date.now() > deadline) return res.body.data;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One sample of a Prometheus metric from GET /metrics (0 when absent). */
export async function metricValue(server: TestServer, name: string, labels: Record<string, string> = {}) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (matches) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * Follows redirects within the server (cookies kept) until a page, or a redirect elsewhere
 * (the client's callback), and returns it.
 */
export async function follow(server: TestServer, jar: CookieJar, location: string) {
  let url = new URL(location, server.url).href.replace(server.issuer, server.url);
  for (let i = 0; i < 8; i++) {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header(new URL(url).pathname) } });
    jar.store(res);
    const next = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && next) {
      const target = new URL(next, url);
      if (target.origin !== new URL(server.url).origin && target.origin !== new URL(server.issuer).origin) {
        return { status: res.status, location: target, html: '' };
      }
      url = target.href.replace(server.issuer, server.url);
      continue;
    }
    return { status: res.status, location: undefined, html: await res.text(), url };
  }
  throw new Error('too many redirects');
}
