import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_RESOURCE, BENCH_SCOPES } from './bare-provider.ts';
import { createDatabase, dropDatabase } from './database.ts';
import { basicAuth, callJson, freePort, waitFor200 } from './http-json.ts';
import { discover, productEntry, STARTUP_TIMEOUT_MS, spawnEntry, type Target } from './targets.ts';

/** Configuration the product reads (DESIGN.md §2): never inherited from the shell running the bench. */
const PRODUCT_ENV = [
  'PORT',
  'HOST',
  'ISSUER',
  'DATABASE_URL',
  'DATA_DIR',
  'REDIS_URL',
  'ADMIN_CLIENT_ID',
  'ADMIN_CLIENT_SECRET',
  'SECRETS_KEY',
  'NODE_ENV',
  'LOG_LEVEL',
  'TLS_CERT_FILE',
  'TLS_KEY_FILE',
  'TLS_CLIENT_CA_FILE',
  'TRUST_PROXY',
];

/** 48 random characters, as an operator would generate a secret. */
const secret48 = () => randomBytes(36).toString('base64url');

/** A running product, with what it takes to configure more of it through the admin API. */
export interface IdpTarget extends Target {
  /** where we dial, e.g. http://127.0.0.1:port */
  readonly origin: string;
  readonly admin: { readonly id: string; readonly secret: string };
  /** the PostgreSQL database it runs on ('pg' storage), for per-request counts */
  readonly database?: { readonly name: string; readonly url: string };
}

/**
 * Our product started exactly as a user would (`npm start`'s node command, with environment variables),
 * then configured through the public admin API (DESIGN.md §3) with one API and one client.
 * `storage` 'pg' runs on a fresh PostgreSQL database, 'embedded' on a fresh DATA_DIR.
 */
export async function startIdp(
  name: string,
  storage: 'pg' | 'embedded',
  extraEnv: NodeJS.ProcessEnv,
): Promise<IdpTarget> {
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    // splice: a second close() finds nothing left to do
    for (const fn of cleanups.splice(0).reverse())
      await fn().catch((e: Error) => console.error(`${name} cleanup: ${e.message}`));
  };
  try {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const admin = { id: 'bench-admin', secret: secret48() };
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of PRODUCT_ENV) delete env[key];
    Object.assign(env, {
      PORT: String(port),
      ADMIN_CLIENT_ID: admin.id,
      ADMIN_CLIENT_SECRET: admin.secret,
      SECRETS_KEY: secret48(),
      LOG_LEVEL: 'warn',
      // The per-client token limit (default 1200/min) would turn the bench into 429s. Its maximum
      // rather than 0 (off), so the limiter stays on the measured path, as in production, but never trips.
      RATE_LIMIT_TOKEN: '1000000',
      RATE_LIMIT_INTROSPECTION: '1000000',
      ...extraEnv,
    });
    let database: { name: string; url: string } | undefined;
    if (storage === 'pg') {
      const db = await createDatabase();
      database = db;
      cleanups.push(() => dropDatabase(db.name));
      env.DATABASE_URL = db.url;
    } else {
      const dir = await mkdtemp(join(tmpdir(), 'idp-bench-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      env.DATA_DIR = dir;
    }

    // Registered after the database so it runs first: the child must be gone before DROP DATABASE.
    const child = spawnEntry(name, productEntry(), env);
    cleanups.push(() => child.stop());
    try {
      await waitFor200(`${origin}/readyz`, STARTUP_TIMEOUT_MS, () => child.process.exitCode === null);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${child.tail()}`);
    }
    const endpoints = await discover(origin);
    const client = await registerBenchClient(origin, endpoints.issuer, endpoints.tokenEndpoint, admin);
    return {
      name,
      child,
      ...endpoints,
      introspectedResource: BENCH_RESOURCE,
      ...(database ? { database } : {}),
      ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}),
      ...client,
      origin,
      admin,
      close: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Headers for admin API calls: a token with scope `admin` on `<issuer>/admin` (DESIGN.md §3). */
export async function adminHeaders(
  issuer: string,
  tokenEndpoint: string,
  admin: { id: string; secret: string },
): Promise<Record<string, string>> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', resource: `${issuer}/admin`, scope: 'admin' });
  const { access_token } = await callJson<{ access_token: string }>('POST', tokenEndpoint, {
    headers: { authorization: basicAuth(admin.id, admin.secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  return { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' };
}

/** The bench API and a client allowed its scopes. */
async function registerBenchClient(
  origin: string,
  issuer: string,
  tokenEndpoint: string,
  admin: { id: string; secret: string },
): Promise<{ clientId: string; clientSecret: string }> {
  const headers = await adminHeaders(issuer, tokenEndpoint, admin);

  await callJson('POST', `${origin}/admin/resources`, {
    headers,
    expect: 201,
    body: JSON.stringify({
      identifier: BENCH_RESOURCE,
      name: 'Bench API',
      scopes: BENCH_SCOPES.split(' '),
      accessTokenTtl: 300,
    }),
  });
  const client = await callJson<{ client_id: string; client_secret: string }>('POST', `${origin}/admin/clients`, {
    headers,
    expect: 201,
    body: JSON.stringify({
      client_name: 'bench',
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_basic',
      allowedResources: { [BENCH_RESOURCE]: BENCH_SCOPES.split(' ') },
    }),
  });
  return { clientId: client.client_id, clientSecret: client.client_secret };
}
