import type { KoaContextWithOIDC } from 'oidc-provider';

/**
 * FAPI 2.0 Security Profile, switched on per client with the metadata `fapi_profile: "2.0"`
 * (default `"off"`). Per client rather than server-wide: one deployment serves browser apps and
 * internal services that FAPI would refuse (client secrets, the admin client) next to the few
 * high-value clients that need the profile.
 *
 * oidc-provider enforces the profile's runtime rules for those clients (PKCE S256, the
 * redirect_uri parameter, `aud` = issuer in private_key_jwt assertions); the registration rules
 * it cannot know are checked here, when the admin registers or changes the client.
 */
export const FAPI_PROFILES = ['off', '2.0'] as const;

/** FAPI 2.0 §5.3.2.1: only asymmetric client authentication. */
const FAPI_AUTH_METHODS = new Set(['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth']);
/** FAPI 2.0 §5.4.1: PS256, ES256 or EdDSA; RS256 is not allowed. */
const FAPI_ID_TOKEN_ALGS = new Set(['PS256', 'ES256', 'EdDSA']);

/** What stops this client's metadata from following the FAPI 2.0 profile, or undefined. */
export function fapiClientProblem(metadata: Readonly<Record<string, unknown>>): string | undefined {
  // the values are a registrant's JSON, checked here before oidc-provider checks their types:
  // a non-string is simply not one of the allowed values (String() of an object may throw)
  const method = metadata.token_endpoint_auth_method ?? 'client_secret_basic';
  if (typeof method !== 'string' || !FAPI_AUTH_METHODS.has(method)) {
    return 'fapi_profile 2.0 needs token_endpoint_auth_method private_key_jwt, tls_client_auth or self_signed_tls_client_auth';
  }
  // §5.3.2.1: only sender-constrained access tokens (DPoP or mTLS)
  if (metadata.dpop_bound_access_tokens !== true && metadata.tls_client_certificate_bound_access_tokens !== true) {
    return 'fapi_profile 2.0 needs dpop_bound_access_tokens or tls_client_certificate_bound_access_tokens';
  }
  const grants = Array.isArray(metadata.grant_types) ? metadata.grant_types : [];
  if (grants.includes('authorization_code')) {
    // §5.3.2.2: authorization requests only through PAR
    if (metadata.require_pushed_authorization_requests !== true) {
      return 'fapi_profile 2.0 needs require_pushed_authorization_requests: true';
    }
    const alg = metadata.id_token_signed_response_alg ?? 'RS256';
    if (typeof alg !== 'string' || !FAPI_ID_TOKEN_ALGS.has(alg)) {
      return 'fapi_profile 2.0 needs id_token_signed_response_alg ES256 (RS256 is not allowed)';
    }
  }
  return undefined;
}

/** `features.fapi.profile`: the profile of the client in this request, if it has one. */
export function fapiProfileOf(
  _ctx: KoaContextWithOIDC,
  client?: { metadata(): Record<string, unknown> },
): '2.0' | undefined {
  return client?.metadata().fapi_profile === '2.0' ? '2.0' : undefined;
}
