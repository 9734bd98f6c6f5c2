import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';

/**
 * Checks that a target issued what the comparison assumes: an RFC 9068 access token (`typ`
 * at+jwt) signed ES256 by a key in its JWKS, for the bench API, with the requested scope only.
 * A target that took a shortcut (opaque token, other alg, wider scope) would make its figures meaningless.
 */
export async function verifyAccessToken(options: {
  tokenResponse: string;
  jwksUrl: string;
  issuer: string;
  audience: string;
  scope: string;
}): Promise<string> {
  const body = JSON.parse(options.tokenResponse) as { access_token?: unknown; token_type?: unknown };
  if (typeof body.access_token !== 'string') throw new Error('token response has no access_token');

  // The JWKS is fetched once here rather than through createRemoteJWKSet, so a failure names the URL.
  const res = await fetch(options.jwksUrl, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`GET ${options.jwksUrl}: ${res.status}`);
  const jwks = createLocalJWKSet((await res.json()) as JSONWebKeySet);

  const { payload, protectedHeader } = await jwtVerify(body.access_token, jwks, {
    typ: 'at+jwt', // RFC 9068 §2.1; jose compares case-insensitively and with or without "application/"
    algorithms: ['ES256'],
    issuer: options.issuer,
    audience: options.audience,
    requiredClaims: ['exp', 'iat', 'jti', 'client_id', 'sub'],
  });
  if (payload.scope !== options.scope) {
    throw new Error(`scope is ${JSON.stringify(payload.scope)}, expected ${JSON.stringify(options.scope)}`);
  }
  return `${protectedHeader.alg} ${protectedHeader.typ} aud=${String(payload.aud)} scope=${String(payload.scope)}`;
}
