import type { Middleware } from 'koa';
import { AppError } from '../../errors.ts';
import { writeError } from './errors.ts';

/** 413 (RFC 9110 §15.5.14) */
export const tooLarge = () =>
  new AppError('payload_too_large', 413, `the body must be at most ${MAX_BODY_BYTES} bytes`);

/** RFC 9112 §3 recommends supporting at least 8000 octets of request line; more is refused. */
const MAX_URL_LENGTH = 8192;
/** No endpoint takes more: admin JSON 64 KiB, forms 16 KiB, oidc-provider's own limit 56 KiB. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Limits checked before any route reads anything: the URL's length and a declared body size
 * (each reader also stops at its own limit while reading, for bodies sent without a length).
 * With an https issuer, HSTS (RFC 6797) on every response: a browser that once reached us over
 * https will not be talked into http. No `includeSubDomains`: the subdomains are not ours to pin.
 */
export function inputLimits(options: { https: boolean }): Middleware {
  // not async: one promise and one frame less on every request
  return (ctx, next) => {
    if (options.https) ctx.set('Strict-Transport-Security', 'max-age=31536000');
    if (ctx.url.length > MAX_URL_LENGTH) {
      writeError(ctx, new AppError('invalid_request', 414, `the URL must be at most ${MAX_URL_LENGTH} characters`));
      return Promise.resolve();
    }
    const declared = Number(ctx.get('content-length') || 0);
    if (declared > MAX_BODY_BYTES) {
      // the body is not read: close the connection rather than drain it
      ctx.set('Connection', 'close');
      writeError(ctx, tooLarge());
      return Promise.resolve();
    }
    return next();
  };
}
