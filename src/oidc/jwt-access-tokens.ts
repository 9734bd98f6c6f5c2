import type { KoaContextWithOIDC } from 'oidc-provider';
import { type AccessTokenService, looksLikeJwt } from '../services/access-tokens.ts';

type Next = () => Promise<unknown>;

/**
 * oidc-provider does not store JWT access tokens, so its introspection answers `active: false`
 * for them and its revocation cannot find them. This runs after its handlers on those two
 * routes (the caller is already authenticated there) and answers for our own JWTs.
 */
export function jwtAccessTokenSupport(tokens: AccessTokenService) {
  return async function jwtAccessTokens(ctx: KoaContextWithOIDC, next: Next) {
    await next();
    const route = ctx.oidc?.route;
    if ((route !== 'introspection' && route !== 'revocation') || ctx.status !== 200) return;
    const value = ctx.oidc.params?.token;
    if (!looksLikeJwt(value)) return;
    const caller = ctx.oidc.client;
    if (!caller) return;

    if (route === 'introspection') {
      const body = ctx.body as { active?: boolean } | undefined;
      if (body?.active !== false) return;
      const result = await tokens.verify(value);
      if (!result.ok) return;
      const { claims } = result;
      // the same policy as for opaque tokens: public clients see only their own tokens
      if (caller.clientAuthMethod === 'none' && claims.client_id !== caller.clientId) return;
      ctx.body = {
        active: true,
        iss: claims.iss,
        sub: claims.sub,
        aud: claims.aud,
        client_id: claims.client_id,
        scope: claims.scope,
        exp: claims.exp,
        iat: claims.iat,
        jti: claims.jti,
        token_type: claims.cnf?.jkt ? 'DPoP' : 'Bearer',
        ...(claims.cnf ? { cnf: claims.cnf } : {}),
      };
      return;
    }

    const result = await tokens.verify(value);
    if (!result.ok) return; // RFC 7009 §2.2: an invalid or expired token needs no revoking
    if (result.claims.client_id !== caller.clientId) {
      // written here: this runs outside the route's own error handler
      ctx.status = 400;
      ctx.body = {
        error: 'invalid_request',
        error_description: 'client is not authorized to revoke the presented token',
      };
      return;
    }
    await tokens.revoke(result.claims);
  };
}
