import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export const ADMIN_CLIENT_ID = 'test-admin';
export const ADMIN_CLIENT_SECRET = 'test-admin-secret-0123456789abcdef0123456789';

export interface JsonResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export interface TestServer {
  readonly url: string;
  readonly issuer: string;
  readonly running: RunningServer;
  readonly database: TestDatabase;
  readonly env: Record<string, string>;
  /** a token for the admin API with the given scope (default `admin`) */
  adminToken(scope?: string): Promise<string>;
  /** calls the admin API with an `admin` token; `body` is sent as JSON */
  admin<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<JsonResponse<T>>;
  /** POST /token with Basic client authentication */
  token(clientId: string, secret: string, params: Record<string, string>): Promise<JsonResponse>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** share a database with another server (it is then not dropped on close) */
  database?: TestDatabase;
  env?: Record<string, string>;
  /** the app's logger (default: one at TEST_LOG_LEVEL, silent) */
  logger?: Logger;
}

/** The whole app on port 0 against a fresh database (dropped on close unless shared). */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const ownsDatabase = options.database === undefined;
  const database = options.database ?? (await createTestDatabase());
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    PORT: '0',
    SECRETS_KEY: 'test-secrets-key-0123456789abcdef0123456789abcdef',
    ADMIN_CLIENT_ID,
    ADMIN_CLIENT_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...database.env,
    ...options.env,
  };
  let running: RunningServer;
  try {
    running = await startServer(loadConfig(env), options.logger ?? createLogger(env.LOG_LEVEL ?? 'silent'));
  } catch (err) {
    if (ownsDatabase) await database.drop();
    throw err;
  }
  const base = running.url.replace('127.0.0.1', 'localhost');

  const token: TestServer['token'] = async (clientId, secret, params) => {
    const res = await fetch(`${base}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(params),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };

  const adminToken = async (scope = 'admin') => {
    const res = await token(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, {
      grant_type: 'client_credentials',
      resource: `${running.issuer}/admin`,
      scope,
    });
    if (res.status !== 200) throw new Error(`admin token: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.access_token as string;
  };

  let cachedAdminToken: string | undefined;
  return {
    url: base,
    issuer: running.issuer,
    running,
    database,
    env,
    adminToken,
    token,
    async admin(method, path, body, bearer) {
      bearer ??= cachedAdminToken ??= await adminToken();
      const res = await fetch(`${base}/admin${path}`, {
        method,
        headers: {
          authorization: `Bearer ${bearer}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      await running.close(1000);
      if (ownsDatabase) await database.drop();
    },
  };
}

export const randomName = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
