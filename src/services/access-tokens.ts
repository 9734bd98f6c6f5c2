import { createLocalJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import type { OidcPayloadRepository } from '../db/repositories/oidc-payloads.ts';
import type { Keystore } from './keys.ts';

/** The claims of an RFC 9068 access token issued by this server. */
export interface AccessTokenClaims extends JWTPayload {
  jti: string;
  sub: string;
  client_id: string;
  exp: number;
  iat: number;
  scope?: string;
  cnf?: Record<string, string>;
}

export type VerifyResult =
  | { ok: true; claims: AccessTokenClaims }
  | { ok: false; reason: 'malformed' | 'invalid' | 'expired' | 'revoked' | 'wrong_audience' };

const REVOKED = 'RevokedAccessToken';

export interface AccessTokenService {
  /** checks signature, issuer, type, expiry, audience (when given) and revocation */
  verify(token: string, options?: { audience?: string }): Promise<VerifyResult>;
  /** records the token as revoked until it would have expired (RFC 7009 for self-contained tokens) */
  revoke(claims: AccessTokenClaims): Promise<void>;
}

export const looksLikeJwt = (value: unknown): value is string =>
  typeof value === 'string' && value.length < 8192 && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value);

export function createAccessTokenService(deps: {
  issuer: string;
  keystore: () => Keystore;
  payloads: OidcPayloadRepository;
}): AccessTokenService {
  const { issuer, payloads } = deps;
  let jwks: { source: Keystore; get: ReturnType<typeof createLocalJWKSet> } | undefined;
  const keyResolver = () => {
    const current = deps.keystore();
    if (jwks?.source !== current) jwks = { source: current, get: createLocalJWKSet({ keys: current.publicJwks }) };
    return jwks.get;
  };

  return {
    async verify(token, options = {}) {
      if (!looksLikeJwt(token)) return { ok: false, reason: 'malformed' };
      let claims: AccessTokenClaims;
      try {
        const result = await jwtVerify(token, keyResolver(), {
          issuer,
          typ: 'at+jwt',
          algorithms: ['ES256', 'RS256'],
          requiredClaims: ['jti', 'sub', 'client_id', 'exp', 'iat', 'aud'],
        });
        claims = result.payload as AccessTokenClaims;
      } catch (err) {
        return { ok: false, reason: err instanceof joseErrors.JWTExpired ? 'expired' : 'invalid' };
      }
      if (options.audience !== undefined) {
        const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
        if (!aud.includes(options.audience)) return { ok: false, reason: 'wrong_audience' };
      }
      if (await payloads.find(REVOKED, claims.jti)) return { ok: false, reason: 'revoked' };
      return { ok: true, claims };
    },
    async revoke(claims) {
      const remaining = claims.exp - Math.floor(Date.now() / 1000);
      if (remaining <= 0) return;
      await payloads.upsert(REVOKED, claims.jti, { jti: claims.jti, clientId: claims.client_id }, remaining);
    },
  };
}
