import { errors, type KoaContextWithOIDC, type ResourceServer as OidcResourceServer } from 'oidc-provider';
import type { CachedClient, ClientService } from '../services/clients.ts';
import type { ResourceServer, ResourceService } from '../services/resources.ts';
import type { Grants, RoleService, Subject } from '../services/roles.ts';

/** Access tokens for APIs are RFC 9068 JWTs signed with the current ES256 key. */
const ACCESS_TOKEN_ALG = 'ES256';

const info = (resource: ResourceServer, allowed: (scope: string) => boolean): OidcResourceServer => ({
  scope: resource.scopes.filter(allowed).join(' '),
  audience: resource.identifier,
  accessTokenTTL: resource.accessTokenTtl,
  accessTokenFormat: 'jwt',
  jwt: { sign: { alg: ACCESS_TOKEN_ALG } },
});

/** The user behind a token request, when there is one (authorization code, refresh token, consent). */
function accountOf(ctx: KoaContextWithOIDC): string | undefined {
  const entities = ctx.oidc?.entities as
    | { Account?: { accountId?: string }; Grant?: { accountId?: string } }
    | undefined;
  return entities?.Account?.accountId ?? entities?.Grant?.accountId;
}

/**
 * RFC 6749 §5.2: a client-credentials request whose scopes may none be granted is refused with
 * `invalid_scope`, rather than answered with a token that carries no scope. A request for no
 * scope, or for some scopes that may be granted, gets its token (with what may be granted).
 */
function grantsSomeScope(ctx: KoaContextWithOIDC, info: OidcResourceServer): OidcResourceServer {
  if (ctx.oidc?.route !== 'token' || ctx.oidc.params?.grant_type !== 'client_credentials') return info;
  const requested = ctx.oidc.requestParamScopes;
  if (requested.size === 0) return info;
  const granted = new Set((info.scope ?? '').split(' '));
  for (const scope of requested) if (granted.has(scope)) return info;
  throw new errors.InvalidScope('none of the requested scopes may be granted to this client', [...requested].join(' '));
}

/**
 * RFC 8707 resource indicators and who may get which scopes of an API:
 * - a client may ask for the scopes its `allowedResources` or its roles allow, nothing else;
 * - a user's token carries, of those, only what the user's roles allow.
 * oidc-provider grants the requested scopes that the returned `scope` contains.
 */
export function createResourceIndicators(deps: {
  clients: ClientService;
  resources: ResourceService;
  roles: RoleService;
}) {
  const { clients, resources, roles } = deps;
  // A client's answer depends only on cached objects that are replaced when anything they hold
  // changes (the client, its roles, the API), so it is memoised on them: the service-token hot
  // path then allocates nothing new and makes no database round trip.
  const memo = new WeakMap<CachedClient, WeakMap<Grants, WeakMap<ResourceServer, OidcResourceServer>>>();

  const clientScopes = (cached: CachedClient, grants: Grants, identifier: string): Set<string> | undefined => {
    const own = cached.allowedResources[identifier];
    const fromRoles = grants.scopes.get(identifier);
    if (!own && !fromRoles) return undefined;
    return new Set([...(own ?? []), ...(fromRoles ?? [])]);
  };

  return {
    /**
     * A service's repeated request is answered from the memo without waiting on anything (every
     * cache it depends on holds its entry); anything else takes the full path below.
     */
    getResourceServerInfo(
      ctx: KoaContextWithOIDC,
      indicator: string,
      client: { clientId: string },
    ): OidcResourceServer | Promise<OidcResourceServer> {
      if (accountOf(ctx) === undefined) {
        const resource = resources.cached(indicator);
        const cached = clients.cached(client.clientId);
        const grants = roles.cachedGrants({ kind: 'client', id: client.clientId });
        const hit = resource && cached && grants ? memo.get(cached)?.get(grants)?.get(resource) : undefined;
        if (hit) return grantsSomeScope(ctx, hit);
      }
      return resolveServerInfo(ctx, indicator, client);
    },
    forExchange,
    defaultResource,
    extraTokenClaims,
  };

  async function resolveServerInfo(
    ctx: KoaContextWithOIDC,
    indicator: string,
    client: { clientId: string },
  ): Promise<OidcResourceServer> {
    const resource = await resources.resolve(indicator);
    if (!resource) throw new errors.InvalidTarget('the requested resource is unknown');
    const [cached, grants] = await Promise.all([
      clients.resolve(client.clientId),
      roles.grants({ kind: 'client', id: client.clientId }),
    ]);
    const accountId = accountOf(ctx);

    if (accountId === undefined && cached) {
      const hit = memo.get(cached)?.get(grants)?.get(resource);
      if (hit) return grantsSomeScope(ctx, hit);
    }
    const allowed = cached && clientScopes(cached, grants, indicator);
    if (!cached || !allowed) throw new errors.InvalidTarget('this client may not access the requested resource');

    if (accountId !== undefined) {
      const user = (await roles.grants({ kind: 'user', id: accountId })).scopes.get(indicator);
      return info(resource, (scope) => allowed.has(scope) && user?.has(scope) === true);
    }
    const result = info(resource, (scope) => allowed.has(scope));
    const byGrants = memo.get(cached) ?? new WeakMap<Grants, WeakMap<ResourceServer, OidcResourceServer>>();
    memo.set(cached, byGrants);
    const byResource = byGrants.get(grants) ?? new WeakMap<ResourceServer, OidcResourceServer>();
    byGrants.set(grants, byResource);
    byResource.set(resource, result);
    return grantsSomeScope(ctx, result);
  }

  /**
   * RFC 8693 token exchange: the API `indicator` as the exchanging client may receive it for
   * `subject`: the scopes the client may ask for, of those only what the subject may have (a
   * user's roles; a client's own `allowedResources` and roles).
   */
  async function forExchange(indicator: string, clientId: string, subject: Subject): Promise<OidcResourceServer> {
    const resource = await resources.resolve(indicator);
    if (!resource) throw new errors.InvalidTarget('the requested resource is unknown');
    const [cached, grants, subjectGrants, subjectClient] = await Promise.all([
      clients.resolve(clientId),
      roles.grants({ kind: 'client', id: clientId }),
      roles.grants(subject),
      subject.kind === 'client' ? clients.resolve(subject.id) : undefined,
    ]);
    const allowed = cached && clientScopes(cached, grants, indicator);
    if (!allowed) throw new errors.InvalidTarget('this client may not access the requested resource');
    const subjectMay =
      subject.kind === 'user'
        ? subjectGrants.scopes.get(indicator)
        : subjectClient && clientScopes(subjectClient, subjectGrants, indicator);
    return info(resource, (scope) => allowed.has(scope) && subjectMay?.has(scope) === true);
  }

  /** A service asking for a token without `resource` gets one for its only API, if it has exactly one. */
  async function defaultResource(ctx: KoaContextWithOIDC, client: { clientId: string }, oneOf?: readonly string[]) {
    if (oneOf) return oneOf;
    if (ctx.oidc.params?.grant_type !== 'client_credentials') return undefined;
    const [cached, grants] = await Promise.all([
      clients.resolve(client.clientId),
      roles.grants({ kind: 'client', id: client.clientId }),
    ]);
    const apis = new Set([...Object.keys(cached?.allowedResources ?? {}), ...grants.scopes.keys()]);
    return apis.size === 1 ? [...apis][0] : undefined;
  }

  /** A `roles` claim, for the APIs that ask for it, naming the subject's roles on that API. */
  function extraTokenClaims(
    _ctx: KoaContextWithOIDC,
    token: { accountId?: string; clientId?: string; resourceServer?: { audience?: string } },
  ): Promise<{ roles: string[] } | undefined> | undefined {
    const audience = token.resourceServer?.audience;
    if (!audience) return undefined;
    // most APIs ask for no roles claim: known from the cache without waiting
    const known = resources.cached(audience);
    if (known !== undefined && !known.rolesClaim) return undefined;
    return rolesClaim(audience, token);
  }

  async function rolesClaim(audience: string, token: { accountId?: string; clientId?: string }) {
    const resource = await resources.resolve(audience);
    if (!resource?.rolesClaim) return undefined;
    const subject = token.accountId
      ? ({ kind: 'user', id: token.accountId } as const)
      : token.clientId
        ? ({ kind: 'client', id: token.clientId } as const)
        : undefined;
    if (!subject) return undefined;
    return { roles: [...((await roles.grants(subject)).roles.get(audience) ?? [])] };
  }
}
