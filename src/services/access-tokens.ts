import { createLocalJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import type { Keystore } from './keys.ts';
import type { Revocations } from './revocations.ts';
import { subjectIsClient } from './token-exchange.ts';

/** The claims of an RFC 9068 access token issued by this server. */
export interface AccessTokenClaims extends JWTPayload {
  jti: string;
  sub: string;
  client_id: string;
  exp: number;
  iat: number;
  scope?: string;
  cnf?: Record<string, string>;
  /** RFC 8693 §4.1: who acted for `sub`, on a token from a token exchange */
  act?: unknown;
}

export type VerifyResult =
  | { ok: true; claims: AccessTokenClaims }
  | { ok: false; reason: 'malformed' | 'invalid' | 'expired' | 'revoked' | 'wrong_audience' | 'ended' };

/**
 * What a token speaks for, now: its client and (for a user's token) its user. Both answer from
 * caches that every instance invalidates on a change (src/services/cache.ts).
 */
export interface TokenStanding {
  /** epoch ms of the client's creation, or undefined when there is no such client (any more) */
  clientCreatedAt(clientId: string): Promise<number | undefined>;
  /** the user exists, is active, and nothing ended their tokens after `issuedAt` (epoch seconds) */
  userTokenValid(userId: string, issuedAt: number): Promise<boolean>;
}

export interface AccessTokenService {
  /**
   * Checks signature, issuer, type, expiry, audience (when given), revocation, and that the
   * token's client and user still stand (`ended`: the client was deleted; the user was deleted or
   * disabled, changed their password, or had their sessions ended, after the token was issued).
   */
  verify(token: string, options?: { audience?: string }): Promise<VerifyResult>;
  /** records the token as revoked until it would have expired (RFC 7009 for self-contained tokens) */
  revoke(claims: AccessTokenClaims): Promise<void>;
}

/** verified tokens kept (about 1 KB each) */
const VERIFIED_MAX = 5_000;

export const looksLikeJwt = (value: unknown): value is string =>
  typeof value === 'string' && value.length < 8192 && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value);

export function createAccessTokenService(deps: {
  issuer: string;
  keystore: () => Keystore;
  /** the revoked tokens, held in memory by every instance */
  revocations: Revocations;
  /** without it, a token's client and user are not checked (unit tests) */
  standing?: TokenStanding;
}): AccessTokenService {
  const { issuer, revocations, standing } = deps;
  let jwks: { source: Keystore; get: ReturnType<typeof createLocalJWKSet> } | undefined;
  /**
   * Tokens whose signature and claims checked out, by their exact text, for as long as the keys
   * that checked them are the published ones: an API that introspects the same token on every
   * request pays for one ES256 verification, not one per call. Expiry, audience, revocation and
   * standing are still checked on every call.
   */
  const verified = new Map<string, Readonly<AccessTokenClaims>>();
  const keyResolver = () => {
    const current = deps.keystore();
    if (jwks?.source !== current) {
      jwks = { source: current, get: createLocalJWKSet({ keys: current.publicJwks }) };
      verified.clear();
    }
    return jwks.get;
  };
  const signatureChecked = async (token: string): Promise<Readonly<AccessTokenClaims>> => {
    const keys = keyResolver();
    const known = verified.get(token);
    if (known) {
      // RFC 7519 §4.1.4, as jose checks it: expired from the second of `exp` on
      if (known.exp * 1000 <= Date.now()) {
        verified.delete(token);
        throw new joseErrors.JWTExpired('"exp" claim timestamp check failed', known, 'exp', 'check_failed');
      }
      return known;
    }
    const result = await jwtVerify(token, keys, {
      issuer,
      typ: 'at+jwt',
      algorithms: ['ES256', 'RS256'],
      requiredClaims: ['jti', 'sub', 'client_id', 'exp', 'iat', 'aud'],
    });
    const claims = Object.freeze(result.payload as AccessTokenClaims);
    // the keys may have changed while this one was verified: keep it only if they did not
    if (jwks?.get === keys) {
      if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value as string);
      verified.set(token, claims);
    }
    return claims;
  };

  return {
    async verify(token, options = {}) {
      if (!looksLikeJwt(token)) return { ok: false, reason: 'malformed' };
      let claims: Readonly<AccessTokenClaims>;
      try {
        claims = await signatureChecked(token);
      } catch (err) {
        return { ok: false, reason: err instanceof joseErrors.JWTExpired ? 'expired' : 'invalid' };
      }
      if (options.audience !== undefined) {
        const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
        if (!aud.includes(options.audience)) return { ok: false, reason: 'wrong_audience' };
      }
      if (standing && !(await stillStands(standing, claims))) return { ok: false, reason: 'ended' };
      if (await revocations.isRevoked(claims.jti, claims.exp)) return { ok: false, reason: 'revoked' };
      return { ok: true, claims };
    },
    revoke: (claims) => revocations.revoke(claims.jti, claims.exp, claims.client_id),
  };
}

/** `iat` has whole seconds, and instances' clocks may differ a little from the one that created the client */
const CLOCK_SLACK_SECONDS = 2;

/**
 * RFC 7662 §2.2: `active` says the token is usable now, which is what a resource server asks
 * introspection for. A self-contained token outlives what it speaks for unless we look: its
 * client deleted (or deleted and created again under the same id: a token older than the
 * client is not its), its user deleted, disabled, or cut off by a password change or the end
 * of their sessions. `sub` is the client's id for a client's own token, a user's id otherwise.
 */
async function stillStands(standing: TokenStanding, claims: AccessTokenClaims): Promise<boolean> {
  const createdAt = await standing.clientCreatedAt(claims.client_id);
  if (createdAt === undefined || claims.iat < Math.floor(createdAt / 1000) - CLOCK_SLACK_SECONDS) return false;
  if (claims.sub === claims.client_id) return true;
  if (subjectIsClient(claims)) {
    // an exchanged client-credentials token (RFC 8693): its subject client must stand as well
    const subjectCreatedAt = await standing.clientCreatedAt(claims.sub);
    return subjectCreatedAt !== undefined && claims.iat >= Math.floor(subjectCreatedAt / 1000) - CLOCK_SLACK_SECONDS;
  }
  return standing.userTokenValid(claims.sub, claims.iat);
}
