import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { createUser, type Interaction, registerWebClient, startSignIn } from '../helpers/form-signin.ts';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Malformed input to every kind of endpoint: no 5xx, the server keeps serving, and nothing
 * stored changes. Seeded (FUZZ_SEED to replay a failure; fast-check prints the seed and the
 * shrunk counterexample) and bounded: FUZZ_RUNS runs per endpoint family.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const API = 'https://fuzz.example';

const nasty = fc.constantFrom(
  '',
  '%',
  '%zz',
  '%00',
  '\u0000',
  '\uD800',
  '../../etc/passwd',
  'a'.repeat(5000),
  '{"a":',
  '[]',
  'null',
  "' OR 1=1 --",
  '<script>alert(1)</script>',
  'https://evil.example/cb',
  'openid profile offline_access admin',
  'client_credentials',
  'authorization_code',
  'refresh_token',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
  'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  '-1',
  '1e309',
  'true',
  // text no database column can hold, and numbers and times out of every range
  'a\u0000b',
  '\uDC00x',
  'x\uD83D',
  '99999999999999999999999',
  '9223372036854775808',
  '-0',
  'NaN',
  'Infinity',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59-14:00',
  '+275760-09-13T00:00:00Z',
  '2024-02-30T00:00:00Z',
  Buffer.from('2024-01-01T00:00:00.000Z|99999999999999999999').toString('base64url'),
);
const text = fc.oneof(nasty, fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 80 }));
const PARAMS = [
  'grant_type',
  'client_id',
  'client_secret',
  'code',
  'redirect_uri',
  'code_verifier',
  'code_challenge',
  'code_challenge_method',
  'refresh_token',
  'scope',
  'resource',
  'token',
  'token_type_hint',
  'client_assertion',
  'client_assertion_type',
  'request',
  'request_uri',
  'response_type',
  'response_mode',
  'state',
  'nonce',
  'prompt',
  'max_age',
  'claims',
  'login_hint',
  'id_token_hint',
  'username',
  'password',
  'csrf',
  'decision',
  'dpop_jkt',
  // the admin API's filters and pages
  'limit',
  'after',
  'since',
  'until',
  'type',
  'subject',
];
const paramName = fc.oneof(fc.constantFrom(...PARAMS), fc.string({ maxLength: 12 }));
const params = fc.dictionary(paramName, fc.oneof(text, fc.array(text, { maxLength: 3 })), { maxKeys: 8 });
const headerValue = fc.oneof(
  fc.constantFrom('Basic', 'Basic ', 'Basic Og==', 'Basic !!!', 'Bearer', 'Bearer x', 'DPoP abc', 'Basic YTpi', ''),
  fc.stringMatching(/^[\x20-\x7e]{0,120}$/).map((v) => v.trim()),
  fc.string({ maxLength: 60 }).map((v) => `Basic ${Buffer.from(v).toString('base64')}`),
);
const contentType = fc.constantFrom(
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=bogus',
  'application/json',
  'application/json; charset=utf-16',
  'text/plain',
  'multipart/form-data; boundary=x',
  '',
);

/** A body: a proper form, JSON of any shape, or raw bytes. */
const body = fc.oneof(
  params.map((p) => {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(p)) for (const one of [v].flat()) form.append(k, one);
    return form.toString();
  }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  // what URLSearchParams would never write: raw NUL, encoded lone surrogates, bad escapes
  fc
    .tuple(
      fc.constantFrom(...PARAMS),
      fc.constantFrom('%00', 'a%00b', '%ED%A0%80', '%zz', '%', '%C0%80', '%F0%9F%98%80'),
    )
    .map(([k, v]) => `${k}=${v}`),
  // JSON with named fields: JSON.stringify escapes NUL and lone surrogates (\u0000, \ud800)
  fc
    .dictionary(
      fc.constantFrom(...PARAMS, 'client_name', 'redirect_uris', 'username', 'name', 'identifier', 'scopes'),
      fc.oneof(text, fc.array(text, { maxLength: 2 }), fc.double(), fc.integer()),
      { maxKeys: 5 },
    )
    .map((o) => JSON.stringify(o)),
);

/** The same path as a client might misspell it: upper or mixed case, a trailing slash, or both. */
const spelled = (paths: fc.Arbitrary<string>) =>
  fc.tuple(paths, fc.constantFrom('as is', 'as is', 'upper', 'mixed', 'slash', 'upper slash')).map(([path, how]) => {
    const cased = how.startsWith('upper')
      ? path.toUpperCase()
      : how === 'mixed'
        ? path.replace(/[a-z]/, (c) => c.toUpperCase())
        : path;
    return how.endsWith('slash') ? `${cased}/` : cased;
  });

/** Path segments a route reads as an id: encoded NUL, lone surrogates, bad escapes, huge numbers. */
const nastyId = fc.oneof(
  fc.string({ maxLength: 30 }).map((v) => encodeURIComponent(v)),
  fc.constantFrom(
    '%00',
    'a%00b',
    '%ED%A0%80',
    '%ED%B0%80',
    '%zz',
    '%',
    '99999999999999999999999',
    '-1',
    '1e309',
    '..',
    '%2e%2e',
  ),
);

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
  query: params,
  // appended as is: what URLSearchParams would never write
  rawQuery: fc.option(
    fc.constantFrom(
      'state=%00',
      'client_id=a%00b',
      'x=%ED%A0%80',
      'y=%zz',
      '%00=1',
      'since=0000-01-01T00:00:00Z',
      'until=%2B275760-09-13T00:00:00Z',
      'limit=1e309',
      'after=MjAyNC0wMS0wMVQwMDowMDowMC4wMDBafDk5OTk5OTk5OTk5OTk5OTk5OTk',
    ),
    { nil: undefined },
  ),
  headers: fc.record(
    {
      authorization: headerValue,
      'content-type': contentType,
      dpop: fc.stringMatching(/^[\x21-\x7e]{0,80}$/),
      'x-forwarded-for': fc.constantFrom('10.99.0.1', 'not-an-ip', '::1', ''),
      accept: fc.constantFrom('application/json', 'text/html', '*/*'),
      // Latin-1 is what HTTP headers carry; Node itself refuses control characters in them
      'user-agent': fc.stringMatching(/^[\x20-\x7e\xa0-\xff]{0,60}$/),
      'accept-language': fc.constantFrom('zh-CN', 'en;q=0.1', '*', 'x'.repeat(200), ''),
    },
    { requiredKeys: [] },
  ),
  body,
});
type FuzzRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

describe('fuzzing every endpoint with malformed input', () => {
  let server: TestServer;
  let snapshot: () => Promise<string>;
  let before0: string;
  let interaction: Interaction;
  const ids: Record<string, string> = {};
  const seen = new Map<number, number>();

  const send = async (path: string, req: FuzzRequest): Promise<number> => {
    const url = new URL(path, server.url);
    for (const [k, v] of Object.entries(req.query)) for (const one of [v].flat()) url.searchParams.append(k, one);
    if (req.rawQuery) url.search = url.search ? `${url.search}&${req.rawQuery}` : `?${req.rawQuery}`;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v) headers[k] = v;
    if (path.startsWith('/interaction/')) headers.cookie = interaction.jar.header();
    const withBody = req.method !== 'GET' && req.method !== 'HEAD';
    const res = await fetch(url, {
      method: req.method,
      headers,
      redirect: 'manual',
      ...(withBody ? { body: req.body } : {}),
    });
    await res.arrayBuffer();
    seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
    return res.status;
  };

  const noServerError = async (paths: fc.Arbitrary<string>, runs = RUNS) => {
    await fc.assert(
      fc.asyncProperty(spelled(paths), request, async (path, req) => {
        const status = await send(path, req);
        assert.ok(status < 500, `${req.method} ${path} answered ${status}`);
      }),
      { numRuns: runs, seed: SEED, endOnFailure: true },
    );
  };

  before(async () => {
    server = await startTestServer({
      env: {
        TRUST_PROXY: 'true',
        REGISTRATION_ENABLED: 'true',
        // the fuzzer is one address hammering everything: keep the limits out of its way
        RATE_LIMIT_ADMIN: '1000000',
        RATE_LIMIT_CLIENT_AUTH_FAILURES: '1000000',
        RATE_LIMIT_SIGNIN_IP: '1000000',
        RATE_LIMIT_SIGNIN_ACCOUNT: '1000000',
        RATE_LIMIT_TOKEN: '1000000',
        LOCKOUT_THRESHOLD: '0',
        LOCKOUT_ACCOUNT_THRESHOLD: '0',
        SIGNIN_DELAY_MS: '0',
      },
    });
    const api = await registerApi(server, API, ['f:read', 'f:write']);
    const service = await registerService(server, { [API]: ['f:read'] });
    const web = await registerWebClient(server);
    const userId = await createUser(server, 'fuzz-user', 'correct horse battery staple');
    const role = await server.admin<{ id: string }>('POST', '/roles', {
      name: 'fuzz-role',
      permissions: [{ resource: API, scope: 'f:read' }],
    });
    Object.assign(ids, {
      resource: api.id,
      client: service.client_id,
      clientSecret: service.client_secret,
      web: web.clientId,
      user: userId,
      role: role.body.id,
    });
    interaction = await startSignIn(server, web);
    // everything stored that the fuzzer might corrupt, as the admin API shows it
    snapshot = async () => {
      const parts = [];
      for (const path of ['/clients?limit=200', '/resources?limit=200', '/users?limit=200', '/roles?limit=200']) {
        const res = await server.admin('GET', path);
        assert.equal(res.status, 200, path);
        parts.push(res.body);
      }
      return JSON.stringify(parts);
    };
    before0 = await snapshot();
  });
  after(() => server?.close());

  test('the token, introspection, revocation and PAR endpoints', async () => {
    await noServerError(fc.constantFrom('/token', '/token/introspection', '/token/revocation', '/request'));
  });

  test('authorization, discovery, userinfo, JWKS, end-session', async () => {
    await noServerError(
      fc.constantFrom(
        '/auth',
        '/.well-known/openid-configuration',
        '/me',
        '/jwks',
        '/session/end',
        '/session/end/confirm',
        '/reg',
        '/reg/nope',
        '/reg/%00',
        '/healthz',
        '/metrics',
        '/static/app.css',
        '/static/%2e%2e/package.json',
      ),
    );
  });

  test('the interaction pages, with a live interaction and with made-up ones', async () => {
    await noServerError(
      fc.oneof(
        fc.constantFrom(
          `/interaction/${interaction.uid}`,
          `/interaction/${interaction.uid}/login`,
          `/interaction/${interaction.uid}/confirm`,
          `/interaction/${interaction.uid}/abort`,
          `/interaction/${interaction.uid}/passkey/options`,
          `/interaction/${interaction.uid}/passkey/verify`,
          `/interaction/${interaction.uid}/passkey/register/options`,
          `/interaction/${interaction.uid}/passkey/register/verify`,
          `/interaction/${interaction.uid}/passkey/skip`,
        ),
        fc
          .tuple(nastyId, fc.constantFrom('', '/login', '/confirm', '/abort', '/passkey'))
          .map(([uid, tail]) => `/interaction/${uid}${tail}`),
      ),
    );
  });

  test('the account pages', async () => {
    await noServerError(
      fc.oneof(
        fc.constantFrom(
          '/account',
          '/account/signin',
          '/account/callback',
          '/account/passkeys/options',
          '/account/passkeys/verify',
          '/account/mfa',
        ),
        fc
          .tuple(nastyId, fc.constantFrom('rename', 'remove'))
          .map(([id, action]) => `/account/passkeys/${id}/${action}`),
      ),
    );
  });

  test('the admin API: every route, malformed bodies, made-up ids, raw paths', async () => {
    const token = await server.adminToken();
    const adminPath = fc.oneof(
      fc.constantFrom(
        '/admin/clients',
        '/admin/resources',
        '/admin/users',
        '/admin/roles',
        '/admin/events',
        '/admin/keys',
      ),
      fc
        .tuple(fc.constantFrom('clients', 'resources', 'users', 'roles'), nastyId)
        .map(([c, id]) => `/admin/${c}/${id}`),
      fc.constantFrom(
        '/admin',
        '/admin/',
        '/admin/%',
        '/admin/clients/%zz',
        '/admin/users/x/unlock',
        '/admin/../admin/keys',
        '/admin/openapi.json',
        // real records, where no method changes anything stored
        `/admin/users/${ids.user}/unlock`,
        `/admin/users/${ids.user}/passkeys`,
      ),
      fc
        .tuple(fc.constantFrom('unlock', 'passkeys', 'secret'), nastyId)
        .map(([action, id]) => `/admin/users/${id}/${action}`),
    );
    await fc.assert(
      fc.asyncProperty(adminPath, request, fc.boolean(), async (path, req, authorized) => {
        const headers = authorized ? { ...req.headers, authorization: `Bearer ${token}` } : req.headers;
        const status = await send(path, { ...req, headers });
        assert.ok(status < 500, `${req.method} ${path} answered ${status}`);
      }),
      { numRuns: RUNS * 2, seed: SEED, endOnFailure: true },
    );
  });

  test('malformed changes to existing records are refused and change nothing', async () => {
    const token = await server.adminToken();
    const record = fc.constantFrom(
      `/admin/clients/${ids.client}`,
      `/admin/clients/${ids.web}`,
      `/admin/resources/${ids.resource}`,
      `/admin/users/${ids.user}`,
      `/admin/roles/${ids.role}`,
    );
    // bodies that can never be a valid change: not an object, not JSON, or an unknown field
    const malformed = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
      fc.string({ maxLength: 50 }).map((s) => `{${s}`),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }).map((o) => ({
        ...o,
        __fuzz_unknown_field: 1,
      })),
    );
    await fc.assert(
      fc.asyncProperty(record, malformed, fc.constantFrom('PATCH', 'PUT', 'POST'), async (path, value, method) => {
        const res = await fetch(`${server.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: typeof value === 'string' ? value : JSON.stringify(value),
        });
        assert.ok(res.status >= 400 && res.status < 500, `${method} ${path} answered ${res.status}`);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });

  test('the server still serves, and nothing stored changed', async (t) => {
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    assert.equal(await snapshot(), before0, 'stored clients, resources, users or roles changed');
    // and the protocol still works end to end
    const issued = await server.token(ids.client as string, ids.clientSecret as string, {
      grant_type: 'client_credentials',
      resource: API,
    });
    assert.equal(issued.status, 200);
    const metrics = await fetch(`${server.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.ok(!(await metrics.text()).includes('status="5'), 'a 5xx was counted');
    // the fuzz reached past the front door: several kinds of 4xx, and successes
    t.diagnostic(`statuses seen: ${JSON.stringify([...seen].sort())}`);
    assert.ok([...seen.keys()].filter((s) => s >= 400).length >= 4, JSON.stringify([...seen]));
  });
});
