import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../services/availability.ts';

/**
 * oidc-provider answers any error it does not know as `500 server_error` (its error handlers in
 * lib/shared/*error_handler.js, which emit `server_error` right after setting the JSON body, or
 * right before rendering the page). A database out of reach is not a bug of the server: the
 * JSON endpoints (token, introspection, revocation, PAR, ...) answer 503 with `Retry-After`
 * (RFC 9110 §15.6.4) and RFC 6749 §4.1.2.1's `temporarily_unavailable`; the pages are the
 * `renderError` option's (src/http/pages.ts), which tells this case apart itself.
 */
export function answerUnavailable(provider: Provider): void {
  provider.on('server_error', (ctx: KoaContextWithOIDC, err: unknown) => {
    if (!isDatabaseUnavailable(err)) return;
    ctx.status = 503;
    ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
    const body = ctx.body as { error?: unknown } | undefined;
    if (typeof body === 'object' && body !== null && !Buffer.isBuffer(body) && body.error === 'server_error') {
      ctx.body = {
        error: 'temporarily_unavailable',
        error_description: 'the service is temporarily unavailable; retry in a few seconds',
      };
    }
  });
}
