import { createHash, randomBytes } from 'node:crypto';
import { CookieJar } from '../helpers/cookie-jar.ts';
import { basicAuth } from './http-json.ts';

/** The web application signing its users in: a first-party confidential client (no consent page). */
export interface SigninClient {
  /** where we dial (127.0.0.1), which may differ from the issuer's host (localhost) */
  readonly origin: string;
  readonly issuer: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** never dialled: the flow ends when a Location points there */
  readonly redirectUri: string;
}

export interface BenchUser {
  readonly id: string;
  readonly username: string;
  readonly password: string;
}

export interface SigninResult {
  readonly idToken: string;
  readonly nonce: string;
  /** HTTP requests the flow took, token request included */
  readonly requests: number;
}

const REQUEST_TIMEOUT_MS = 15_000;
/** auth -> login page -> POST -> resume -> consent (skipped) -> resume -> callback, with room to spare */
const MAX_REQUESTS = 12;
const random = () => randomBytes(16).toString('base64url');

/**
 * One complete password sign-in as a browser does it, with fetch and a cookie jar of its own:
 * the authorization request (code flow with PKCE, RFC 7636 S256), the redirects to the sign-in
 * page, the form POST, the redirects back through the resumed authorization to the client's
 * redirect_uri, then the code exchanged at the token endpoint. Throws, naming the step, unless
 * an ID token comes back. Every redirect is followed by hand (`redirect: 'manual'`), as the
 * cookies of each hop must be kept, and the last Location must be read rather than dialled.
 */
export async function signIn(client: SigninClient, user: BenchUser): Promise<SigninResult> {
  const verifier = randomBytes(32).toString('base64url');
  const state = random();
  const nonce = random();
  const authorize = new URL(client.authorizationEndpoint);
  authorize.search = new URLSearchParams({
    client_id: client.clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: client.redirectUri,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    nonce,
  }).toString();

  const jar = new CookieJar();
  let next: { url: URL; form?: URLSearchParams } = { url: onOrigin(authorize, client) };
  let submitted = false;
  for (let requests = 1; requests <= MAX_REQUESTS; requests++) {
    const { url, form } = next;
    const res = await send(jar, url, form);
    const where = `${form ? 'POST' : 'GET'} ${url.pathname}`;

    if (res.status === 302 || res.status === 303) {
      const location = res.headers.get('location');
      if (!location) throw new Error(`${where}: ${res.status} without Location`);
      const target = new URL(location, url);
      if (`${target.origin}${target.pathname}` === client.redirectUri) {
        const code = callbackCode(target, state, client.issuer);
        const idToken = await exchange(client, code, verifier);
        return { idToken, nonce, requests: requests + 1 };
      }
      next = { url: onOrigin(target, client) };
      continue;
    }
    if (res.status !== 200) throw new Error(`${where}: ${res.status} ${pageTitle(res.body)}`);
    if (submitted || !url.pathname.startsWith('/interaction/')) {
      // the login page again after the password (wrong password, lockout) or an unexpected page
      throw new Error(`${where}: 200 "${pageTitle(res.body)}" ${alertText(res.body)}`.trim());
    }
    next = { url: new URL(loginForm(res.body, where), url), form: credentials(res.body, user, where) };
    submitted = true;
  }
  throw new Error(`no redirect to the client after ${MAX_REQUESTS} requests; cookies: ${jar.names().join(', ')}`);
}

async function send(
  jar: CookieJar,
  url: URL,
  form: URLSearchParams | undefined,
): Promise<{ status: number; headers: Headers; body: string }> {
  const headers: Record<string, string> = { accept: 'text/html' };
  const cookie = jar.header(url.pathname);
  if (cookie) headers.cookie = cookie;
  if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await fetch(url, {
    method: form ? 'POST' : 'GET',
    headers,
    body: form ? form.toString() : null,
    redirect: 'manual',
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  jar.store(res, url.pathname);
  // read every body, redirects included, so the connection goes back to the pool
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** Discovery and redirects name the issuer's host; we dial the address the server listens on. */
function onOrigin(url: URL, client: SigninClient): URL {
  const issuerOrigin = new URL(client.issuer).origin;
  if (url.origin !== issuerOrigin && url.origin !== client.origin) throw new Error(`redirected off the server: ${url}`);
  return new URL(`${url.pathname}${url.search}`, client.origin);
}

/** RFC 6749 §4.1.2: the code, after checking the state (§10.12) and, when sent, RFC 9207's `iss`. */
function callbackCode(callback: URL, state: string, issuer: string): string {
  const params = callback.searchParams;
  const error = params.get('error');
  if (error) throw new Error(`the client got error=${error}: ${params.get('error_description') ?? ''}`);
  if (params.get('state') !== state) throw new Error('the callback carries another state');
  const iss = params.get('iss');
  if (iss !== null && iss !== issuer) throw new Error(`the callback's iss is ${iss}, expected ${issuer}`);
  const code = params.get('code');
  if (!code) throw new Error('the callback carries no code');
  return code;
}

/** RFC 6749 §4.1.3 with the PKCE verifier (RFC 7636 §4.5) and HTTP Basic client authentication. */
async function exchange(client: SigninClient, code: string, verifier: string): Promise<string> {
  const res = await fetch(onOrigin(new URL(client.tokenEndpoint), client), {
    method: 'POST',
    headers: {
      authorization: basicAuth(client.clientId, client.clientSecret),
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: client.redirectUri,
      code_verifier: verifier,
    }).toString(),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST token: ${res.status} ${text.slice(0, 200)}`);
  const body = JSON.parse(text) as { id_token?: unknown };
  if (typeof body.id_token !== 'string') throw new Error('POST token: 200 without id_token');
  return body.id_token;
}

/** The sign-in form's action: the one posting to `/interaction/<uid>/login`. */
function loginForm(html: string, where: string): string {
  const action = /<form\b[^>]*\baction="([^"]*\/login)"/.exec(html)?.[1];
  if (!action) throw new Error(`${where}: 200 "${pageTitle(html)}" has no sign-in form`);
  return action;
}

function credentials(html: string, user: BenchUser, where: string): URLSearchParams {
  const csrf = /<input\b[^>]*\bname="csrf"[^>]*\bvalue="([^"]*)"/.exec(html)?.[1];
  if (!csrf) throw new Error(`${where}: the sign-in form has no csrf field`);
  return new URLSearchParams({ username: user.username, password: user.password, csrf });
}

const pageTitle = (html: string) => /<title>([^<]*)<\/title>/.exec(html)?.[1]?.trim() ?? html.slice(0, 120);
const alertText = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim() ?? '';
