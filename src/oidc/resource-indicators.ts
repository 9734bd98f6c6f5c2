import { errors, type KoaContextWithOIDC, type ResourceServer as OidcResourceServer } from 'oidc-provider';
import type { CachedClient, ClientService } from '../services/clients.ts';
import type { ResourceServer, ResourceService } from '../services/resources.ts';

/** Access tokens for APIs are RFC 9068 JWTs signed with the current ES256 key. */
const ACCESS_TOKEN_ALG = 'ES256';

/**
 * RFC 8707 resource indicators. An API is known when it is registered; a client may get a
 * token for it only when its `allowedResources` names it, and only with the scopes listed
 * there (oidc-provider grants the requested scopes that this `scope` contains).
 */
export function createResourceIndicators(deps: { clients: ClientService; resources: ResourceService }) {
  const { clients, resources } = deps;
  // The answer depends only on the cached client and API objects, which are replaced when
  // either changes, so it is memoised on them: the hot path allocates nothing new.
  const memo = new WeakMap<CachedClient, WeakMap<ResourceServer, OidcResourceServer>>();

  return {
    async getResourceServerInfo(
      _ctx: KoaContextWithOIDC,
      indicator: string,
      client: { clientId: string },
    ): Promise<OidcResourceServer> {
      const resource = await resources.resolve(indicator);
      if (!resource) throw new errors.InvalidTarget('the requested resource is unknown');
      const cached = await clients.resolve(client.clientId);
      const allowed = cached?.allowedResources[indicator];
      if (!cached || !allowed) throw new errors.InvalidTarget('this client may not access the requested resource');
      let byResource = memo.get(cached);
      if (!byResource) {
        byResource = new WeakMap();
        memo.set(cached, byResource);
      }
      let info = byResource.get(resource);
      if (!info) {
        info = {
          scope: resource.scopes.filter((scope) => allowed.includes(scope)).join(' '),
          audience: resource.identifier,
          accessTokenTTL: resource.accessTokenTtl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: ACCESS_TOKEN_ALG } },
        };
        byResource.set(resource, info);
      }
      return info;
    },

    /** A service asking for a token without `resource` gets one for its only API, if it has exactly one. */
    async defaultResource(ctx: KoaContextWithOIDC, client: { clientId: string }, oneOf?: readonly string[]) {
      if (oneOf) return oneOf;
      if (ctx.oidc.params?.grant_type !== 'client_credentials') return undefined;
      const allowed = Object.keys((await clients.resolve(client.clientId))?.allowedResources ?? {});
      return allowed.length === 1 ? allowed[0] : undefined;
    },
  };
}
