import type { Middleware } from 'koa';

/** RFC 9112 §3 recommends supporting at least 8000 octets of request line; more is refused. */
const MAX_URL_LENGTH = 8192;
/** No endpoint takes more: admin JSON 64 KiB, forms 16 KiB, oidc-provider's own limit 56 KiB. */
export const MAX_BODY_BYTES = 64 * 1024;

const problem = (error: string, description: string) => ({ error, error_description: description });

/**
 * Limits checked before any route reads anything: the URL's length and a declared body size
 * (each reader also stops at its own limit while reading, for bodies sent without a length).
 * With an https issuer, HSTS (RFC 6797) on every response: a browser that once reached us over
 * https will not be talked into http. No `includeSubDomains`: the subdomains are not ours to pin.
 */
export function inputLimits(options: { https: boolean }): Middleware {
  return async (ctx, next) => {
    if (options.https) ctx.set('Strict-Transport-Security', 'max-age=31536000');
    if (ctx.url.length > MAX_URL_LENGTH) {
      ctx.status = 414;
      ctx.body = problem('invalid_request', `the URL must be at most ${MAX_URL_LENGTH} characters`);
      return;
    }
    const declared = Number(ctx.get('content-length') || 0);
    if (declared > MAX_BODY_BYTES) {
      // the body is not read: close the connection rather than drain it
      ctx.set('Connection', 'close');
      ctx.status = 413;
      ctx.body = problem('payload_too_large', `the body must be at most ${MAX_BODY_BYTES} bytes`);
      return;
    }
    await next();
  };
}
