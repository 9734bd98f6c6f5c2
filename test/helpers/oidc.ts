import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import * as client from 'openid-client';
import type { TestServer } from './server.ts';

/** openid-client (a certified relying-party library) configured for a test server's issuer. */
export function discover(server: TestServer, clientId: string, secret?: string): Promise<client.Configuration> {
  return client.discovery(
    new URL(server.issuer),
    clientId,
    undefined,
    secret === undefined ? client.None() : client.ClientSecretBasic(secret),
    // the test issuer is http://localhost: allowed here only
    { execute: [client.allowInsecureRequests] },
  );
}

/** Verifies an access token the way a resource server would: signature from /jwks, typ, iss, aud. */
export async function verifyAccessToken(server: TestServer, token: string, audience: string) {
  const jwks = createRemoteJWKSet(new URL(`${server.url}/jwks`));
  const { payload, protectedHeader } = await jwtVerify<JWTPayload & Record<string, unknown>>(token, jwks, {
    issuer: server.issuer,
    audience,
    typ: 'at+jwt',
  });
  return { payload, header: protectedHeader };
}

export async function registerService(
  server: TestServer,
  allowedResources: Record<string, string[]>,
  extra: Record<string, unknown> = {},
) {
  const res = await server.admin<{ client_id: string; client_secret: string }>('POST', '/clients', {
    client_name: 'test service',
    allowedResources,
    ...extra,
  });
  if (res.status !== 201) throw new Error(`register client: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function registerApi(server: TestServer, identifier: string, scopes: string[], accessTokenTtl = 300) {
  const res = await server.admin<{ id: string; identifier: string }>('POST', '/resources', {
    identifier,
    name: 'Test API',
    scopes,
    accessTokenTtl,
  });
  if (res.status !== 201) throw new Error(`register resource: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export { client };
