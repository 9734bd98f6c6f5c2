import { randomBytes } from 'node:crypto';
import { callJson } from './http-json.ts';
import { adminHeaders, type IdpTarget } from './idp-target.ts';
import type { BenchUser, SigninClient } from './signin-flow.ts';

/** Never dialled: the flow stops at the Location that points here (port 9 is discard). */
export const BENCH_REDIRECT_URI = 'http://127.0.0.1:9/cb';
/** Users created at once: the server hashes each password on its 4-thread pool anyway. */
const CREATE_CONCURRENCY = 4;

/**
 * Through the admin API (DESIGN.md §3): a first-party confidential web client, so no consent page
 * interrupts the flow, and `count` users with passwords of their own. Many users, so no account
 * approaches a per-account count (rate limit, brute-force counters) however long the bench runs.
 */
export async function setUpSignin(
  target: IdpTarget,
  count: number,
): Promise<{ client: SigninClient; users: BenchUser[] }> {
  const headers = await adminHeaders(target.issuer, target.tokenEndpoint, target.admin);
  const meta = await callJson<{ authorization_endpoint: string }>(
    'GET',
    `${target.origin}/.well-known/openid-configuration`,
  );
  const created = await callJson<{ client_id: string; client_secret: string }>(
    'POST',
    `${target.origin}/admin/clients`,
    {
      headers,
      expect: 201,
      body: JSON.stringify({
        client_name: 'bench web app',
        application_type: 'web',
        redirect_uris: [BENCH_REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        first_party: true,
      }),
    },
  );
  const client: SigninClient = {
    origin: target.origin,
    issuer: target.issuer,
    authorizationEndpoint: meta.authorization_endpoint,
    tokenEndpoint: target.tokenEndpoint,
    clientId: created.client_id,
    clientSecret: created.client_secret,
    redirectUri: BENCH_REDIRECT_URI,
  };

  const run = randomBytes(3).toString('hex');
  const users: BenchUser[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      // random words are neither common nor the username: the password policy accepts them
      const username = `bench-${run}-${i}`;
      const password = randomBytes(15).toString('base64url');
      const { id } = await callJson<{ id: string }>('POST', `${target.origin}/admin/users`, {
        headers,
        expect: 201,
        body: JSON.stringify({ username, password }),
      });
      users.push({ id, username, password });
    }
  };
  await Promise.all(Array.from({ length: Math.min(CREATE_CONCURRENCY, count) }, worker));
  return { client, users };
}
