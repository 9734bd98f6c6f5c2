import { generateKeyPairSync } from 'node:crypto';
import Provider, { type Configuration, type JWK } from 'oidc-provider';

/** The API both the baseline and our product issue tokens for; the product registers it through the admin API. */
export const BENCH_RESOURCE = 'https://api.example';
export const BENCH_SCOPES = 'orders:read orders:write';
/**
 * An API whose tokens the baseline issues opaque (kept in its memory store): oidc-provider
 * introspects only the tokens it stores, so this is what the baseline introspects for the
 * introspection scenario's reference, while the product introspects its own JWTs.
 */
export const OPAQUE_RESOURCE = 'https://opaque.example';

/** A fresh private signing key in JWK form, as an operator would paste into `jwks`. */
function privateJwk(kind: 'ec' | 'rsa', alg: 'ES256' | 'RS256', kid: string): JWK {
  const { privateKey } =
    kind === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...(privateKey.export({ format: 'jwk' }) as JWK), alg, use: 'sig', kid };
}

/**
 * The baseline: oidc-provider 9 as its README configures it, with nothing of ours in the path
 * (default in-memory adapter, one static client), issuing the same RFC 9068 ES256 JWT access
 * tokens as the product so the comparison measures our layers and storage, not a different token.
 */
export function createBareProvider(issuer: string, clientId: string, clientSecret: string): Provider {
  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    // ES256 first: it is the default signing key, as in the product; RS256 only for parity of the key set
    jwks: { keys: [privateJwk('ec', 'ES256', 'bench-es256'), privateJwk('rsa', 'RS256', 'bench-rs256')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // the library's default policy, written out (it warns when left implicit)
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      resourceIndicators: {
        enabled: true,
        // RFC 8707: a client-credentials request without `resource` gets the one API there is
        defaultResource: () => BENCH_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) =>
          resource === OPAQUE_RESOURCE
            ? { scope: BENCH_SCOPES, audience: OPAQUE_RESOURCE, accessTokenTTL: 300, accessTokenFormat: 'opaque' }
            : {
                scope: BENCH_SCOPES,
                audience: BENCH_RESOURCE,
                accessTokenTTL: 300,
                accessTokenFormat: 'jwt',
                jwt: { sign: { alg: 'ES256' } },
              },
      },
    },
  };
  return new Provider(issuer, configuration);
}
