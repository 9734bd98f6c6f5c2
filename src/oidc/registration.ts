import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { redirectUriProblem } from '../services/redirect-uri-policy.ts';
import { isHashedSecret } from '../services/secrets.ts';

/** The policy every initial access token from the admin API carries. */
export const REGISTRATION_POLICY = 'idp-default';

/**
 * RFC 7591 §2: the server decides what a self-registered client may have. The same redirect
 * URI rules as the admin API (RFC 9700 §2.1); no client credentials (a registered client gets
 * no API until an admin allows it); never first-party (that would skip consent).
 */
export function registrationPolicy(_ctx: KoaContextWithOIDC, metadata: Record<string, unknown>): void {
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
  if (metadata.first_party !== undefined && metadata.first_party !== false) {
    throw new errors.InvalidClientMetadata('first_party is set by an admin');
  }
}

type Next = () => Promise<unknown>;

/**
 * RFC 7592 reads return the client's metadata, where oidc-provider holds the secret's keyed
 * hash (the plaintext is shown once, at registration): never send the hash out.
 */
export async function hideStoredSecrets(ctx: KoaContextWithOIDC, next: Next): Promise<void> {
  await next();
  const route = ctx.oidc?.route;
  if (route !== 'client' && route !== 'client_update' && route !== 'registration') return;
  const body = ctx.body as { client_secret?: unknown } | undefined;
  if (body && typeof body.client_secret === 'string' && isHashedSecret(body.client_secret)) {
    delete body.client_secret;
  }
}
