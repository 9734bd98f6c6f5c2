import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';

/**
 * Checks that a sign-in produced what a relying party needs (OpenID Connect Core 1.0 §3.1.3.7):
 * an ID token signed by a key in the JWKS, from this issuer, for this client, about the user who
 * typed the password, with the request's nonce, and `amr` saying a password was used (RFC 8176).
 */
export async function verifyIdToken(options: {
  idToken: string;
  jwksUrl: string;
  issuer: string;
  clientId: string;
  userId: string;
  nonce: string;
}): Promise<string> {
  const res = await fetch(options.jwksUrl, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`GET ${options.jwksUrl}: ${res.status}`);
  const jwks = createLocalJWKSet((await res.json()) as JSONWebKeySet);
  const { payload, protectedHeader } = await jwtVerify(options.idToken, jwks, {
    issuer: options.issuer,
    audience: options.clientId,
    subject: options.userId,
    requiredClaims: ['exp', 'iat', 'nonce'],
  });
  if (payload.nonce !== options.nonce) throw new Error('nonce differs from the one sent');
  const amr = payload.amr;
  if (!Array.isArray(amr) || !amr.includes('pwd')) throw new Error(`amr is ${JSON.stringify(amr)}, expected 'pwd'`);
  return `${protectedHeader.alg} aud=${String(payload.aud)} sub=<user id> amr=${JSON.stringify(amr)}`;
}
