import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context, Middleware } from 'koa';

/**
 * CSRF tokens for our interaction forms. A token is HMAC-SHA256(key, "csrf:interaction:" + uid):
 * it is bound to one interaction and nobody without the key can make one. The interaction
 * itself is also bound to the browser by oidc-provider's interaction cookie; the token adds
 * the proof that the POST comes from a page we rendered.
 *
 * @example
 * const csrf = createCsrf(hkdfSync('sha256', secretsKey, '', 'csrf', 32));
 * csrf.token(uid) // -> put in <input type="hidden" name="csrf">
 * csrf.verify(uid, body.csrf) // -> true or false
 */
export interface Csrf {
  token(uid: string): string;
  verify(uid: string, token: unknown): boolean;
}

const CSRF_FIELD = 'csrf';

export function createCsrf(key: string | Uint8Array): Csrf {
  if (key.length < 32) throw new Error('the CSRF key must be at least 32 bytes');
  const mac = (uid: string) => createHmac('sha256', key).update(`csrf:interaction:${uid}`).digest();
  return {
    token: (uid) => mac(uid).toString('base64url'),
    verify(uid, token) {
      if (typeof token !== 'string' || token.length > 128) return false;
      const given = Buffer.from(token, 'base64url');
      const expected = mac(uid);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

/**
 * Refuses a POST whose form lacks the token of the interaction in `ctx.params.uid`.
 * Runs after the body was read into `ctx.state.form`; `forbidden` renders the 403 page.
 */
export function requireCsrf(csrf: Csrf, forbidden: (ctx: Context) => void | Promise<void>): Middleware {
  return async (ctx, next) => {
    const uid = (ctx as Context & { params?: Record<string, string> }).params?.uid;
    const form = ctx.state.form as Record<string, string> | undefined;
    if (uid === undefined || !csrf.verify(uid, form?.[CSRF_FIELD])) {
      await forbidden(ctx);
      return;
    }
    await next();
  };
}
