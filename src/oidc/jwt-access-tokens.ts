import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import introspectionRoute from 'oidc-provider/lib/actions/introspection.js';
import revocationRoute from 'oidc-provider/lib/actions/revocation.js';
import rejectStructuredTokens from 'oidc-provider/lib/shared/reject_structured_tokens.js';
import { type AccessTokenService, looksLikeJwt } from '../services/access-tokens.ts';
import { mayIntrospect } from './introspection-policy.ts';

type Next = () => Promise<unknown>;

/** Each provider's own token service (a provider is rebuilt when signing keys change). */
const services = new WeakMap<Provider, AccessTokenService>();

/**
 * The step of oidc-provider's introspection and revocation routes that refuses JWTs, replaced
 * in place by one that answers for our own: it runs where the refusal ran, after the client
 * has authenticated and the parameters were checked, so nothing the route does before it is
 * skipped. Without this, every introspection of a JWT built, threw and rendered an error first
 * (an Error with its stack per call), which the wrapper below then replaced. A provider with no
 * token service registered, or an oidc-provider whose routes no longer hold that step, keeps
 * the refusal, and the wrapper answers as before. Must run before the first `new Provider`:
 * the routes are copied from these lists when a provider is built.
 */
export function answerJwtsInRoute(): void {
  for (const route of [introspectionRoute, revocationRoute]) {
    const at = route.indexOf(rejectStructuredTokens);
    if (at === -1) continue;
    route[at] = function answerOwnJwts(ctx: KoaContextWithOIDC, next: Next) {
      const tokens = services.get(ctx.oidc.provider);
      if (tokens !== undefined && ctx.oidc.client !== undefined && looksLikeJwt(ctx.oidc.params?.token)) {
        return answer(ctx, tokens);
      }
      return rejectStructuredTokens(ctx, next);
    };
  }
}

const isUnsupportedTokenType = (value: unknown) =>
  (value as { error?: unknown } | undefined)?.error === 'unsupported_token_type';

/**
 * oidc-provider does not store JWT access tokens and refuses them at introspection and
 * revocation (`unsupported_token_type`), after it has authenticated the caller. This runs
 * around those two routes and answers for our own JWTs instead: RFC 7662 and RFC 7009.
 * Installed innermost (app.ts), so that the log, the metrics and the limits see its answer.
 */
export function jwtAccessTokenSupport(provider: Provider, tokens: AccessTokenService) {
  services.set(provider, tokens);
  const paths = new Set([provider.pathFor('introspection'), provider.pathFor('revocation')]);
  // the token endpoint and the rest pass straight through, without an async frame
  return function jwtAccessTokens(ctx: KoaContextWithOIDC, next: Next) {
    return paths.has(ctx.path) ? around(ctx, next) : next();
  };
  async function around(ctx: KoaContextWithOIDC, next: Next) {
    try {
      await next();
    } catch (err) {
      if (!isUnsupportedTokenType(err) || !handles(ctx)) throw err;
      return answer(ctx, tokens);
    }
    if (ctx.status === 400 && isUnsupportedTokenType(ctx.body) && handles(ctx)) await answer(ctx, tokens);
    else if (ctx.oidc?.route === 'revocation' && ctx.status === 200) revoked(ctx);
  }
}

/**
 * RFC 7009 §2.2 leaves the body of a revocation's 200 open; oidc-provider sends an empty
 * text/plain one, which clients that parse every answer as JSON (oidc-client-ts) refuse.
 */
function revoked(ctx: KoaContextWithOIDC): void {
  ctx.type = 'application/json';
  ctx.body = {};
}

function handles(ctx: KoaContextWithOIDC): boolean {
  const route = ctx.oidc?.route;
  return (route === 'introspection' || route === 'revocation') && ctx.oidc.client !== undefined;
}

async function answer(ctx: KoaContextWithOIDC, tokens: AccessTokenService): Promise<void> {
  const caller = ctx.oidc.client;
  const value = ctx.oidc.params?.token;
  const result = looksLikeJwt(value) && caller ? await tokens.verify(value) : undefined;
  ctx.status = 200;
  ctx.set('Cache-Control', 'no-store');

  if (ctx.oidc.route === 'introspection') {
    ctx.type = 'application/json';
    ctx.body = { active: false };
    if (!result?.ok || !caller) return;
    const { claims } = result;
    // the same policy as for opaque tokens: the token's own client, or its resource server
    if (!mayIntrospect(caller, { kind: 'AccessToken', clientId: claims.client_id, aud: claims.aud })) return;
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

  revoked(ctx);
  // RFC 7009 §2.2: an invalid or expired token needs no revoking, and the answer is still 200
  if (!result?.ok || !caller) return;
  if (result.claims.client_id !== caller.clientId) {
    ctx.status = 400;
    ctx.type = 'application/json';
    ctx.body = {
      error: 'invalid_request',
      error_description: 'client is not authorized to revoke the presented token',
    };
    return;
  }
  await tokens.revoke(result.claims);
}
