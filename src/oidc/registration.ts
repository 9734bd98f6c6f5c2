import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { OidcPayloadRepository } from '../services/ports/oidc-payloads.ts';
import { redirectUriProblem } from '../services/redirect-uri-policy.ts';
import { isHashedSecret } from '../services/secrets.ts';
import { TOKEN_EXCHANGE_GRANT } from '../services/token-exchange.ts';
import { INTROSPECTION_AUDIENCES } from './introspection-policy.ts';
import { TOKEN_EXCHANGE } from './token-exchange.ts';

/** The policy every initial access token from the admin API carries. */
export const REGISTRATION_POLICY = 'idp-default';

/**
 * RFC 7591 §2: the server decides what a self-registered client may have. The same redirect
 * URI rules as the admin API (RFC 9700 §2.1); no client credentials (a registered client gets
 * no API until an admin allows it); never first-party (that would skip consent).
 */
export function registrationPolicy(ctx: KoaContextWithOIDC, metadata: Record<string, unknown>): void {
  const type = metadata.application_type === 'native' ? 'native' : 'web';
  for (const field of ['redirect_uris', 'post_logout_redirect_uris'] as const) {
    const uris = metadata[field];
    if (uris === undefined) continue;
    if (!Array.isArray(uris)) throw new errors.InvalidClientMetadata(`${field} must be an array`);
    for (const uri of uris) {
      const problem = typeof uri === 'string' ? redirectUriProblem(uri, type) : 'must be a string';
      if (problem) {
        const ErrorClass = field === 'redirect_uris' ? errors.InvalidRedirectUri : errors.InvalidClientMetadata;
        throw new ErrorClass(`${field}: ${uri} ${problem}`);
      }
    }
  }
  const grants = Array.isArray(metadata.grant_types) ? metadata.grant_types : [];
  if (grants.includes('client_credentials')) {
    throw new errors.InvalidClientMetadata('client_credentials clients are registered by an admin');
  }
  if (grants.includes(TOKEN_EXCHANGE_GRANT)) {
    throw new errors.InvalidClientMetadata('token exchange clients are registered by an admin');
  }
  if (metadata.first_party !== undefined && metadata.first_party !== false) {
    throw new errors.InvalidClientMetadata('first_party is set by an admin');
  }
  // what a client may reach is an admin's decision: not through /reg
  for (const field of ['allowedResources', 'roles', TOKEN_EXCHANGE] as const) {
    if (metadata[field] !== undefined) throw new errors.InvalidClientMetadata(`${field} is set by an admin`);
  }
  // an RFC 7592 update may repeat what an admin set, and drop it, but never widen it
  const audiences = metadata[INTROSPECTION_AUDIENCES];
  const current = ctx.oidc.route === 'client_update' ? ctx.oidc.client?.metadata()[INTROSPECTION_AUDIENCES] : undefined;
  if (audiences !== undefined && JSON.stringify(audiences) !== JSON.stringify(current)) {
    throw new errors.InvalidClientMetadata(`${INTROSPECTION_AUDIENCES} is set by an admin`);
  }
  // no request from this server to where a self-registered client points (SSRF): keys by value
  for (const field of ['jwks_uri', 'sector_identifier_uri', 'request_uris', 'backchannel_logout_uri'] as const) {
    if (metadata[field] !== undefined) {
      throw new errors.InvalidClientMetadata(
        `${field} is not accepted at registration; ${field === 'backchannel_logout_uri' ? 'an admin sets it' : 'send jwks by value'}`,
      );
    }
  }
}

type Next = () => Promise<unknown>;

/**
 * RFC 7592 reads return the client's metadata, where oidc-provider holds the secret's keyed
 * hash (the plaintext is shown once, at registration): never send the hash out.
 */
export function hideStoredSecretsUnder(path: string) {
  // the other routes (the token endpoint above all) pass straight through
  return (ctx: KoaContextWithOIDC, next: Next) =>
    ctx.path === path || ctx.path.startsWith(`${path}/`) ? hideStoredSecrets(ctx, next) : next();
}

async function hideStoredSecrets(ctx: KoaContextWithOIDC, next: Next): Promise<void> {
  await next();
  const route = ctx.oidc?.route;
  if (route !== 'client' && route !== 'client_update' && route !== 'registration') return;
  const body = ctx.body as { client_secret?: unknown } | undefined;
  if (body && typeof body.client_secret === 'string' && isHashedSecret(body.client_secret)) {
    delete body.client_secret;
  }
}

/** Where the uses left of each initial access token are counted (keyed by the token's id). */
const USES = 'InitialAccessTokenUses';

/**
 * RFC 7591 §3: an initial access token registers as many clients as the admin asked for
 * (one by default), counted apart from the token, which oidc-provider stores as it is.
 * A use is taken when the client is stored, after its metadata passed every check: a refused
 * registration does not spend one.
 */
export function createInitialAccessTokenUses(payloads: OidcPayloadRepository) {
  return {
    async grant(tokenId: string, uses: number, expiresIn: number): Promise<void> {
      await payloads.upsert(USES, tokenId, { remaining: uses }, expiresIn);
    },
    /** false when the token has no use left (or was issued without a count) */
    async take(tokenId: string): Promise<boolean> {
      const remaining = await payloads.takeUse(USES, tokenId);
      if (remaining === undefined) return false;
      if (remaining === 0) {
        // spent: the token is refused at once from now on, not only when a client is stored
        await payloads.destroy('InitialAccessToken', tokenId);
        await payloads.destroy(USES, tokenId);
      }
      return true;
    },
  };
}

export type InitialAccessTokenUses = ReturnType<typeof createInitialAccessTokenUses>;
