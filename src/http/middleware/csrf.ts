import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { FormBodyError, readForm } from './form-body.ts';

/**
 * CSRF tokens for our forms. A token is HMAC-SHA256(key, "csrf:interaction:" + binding): it is
 * bound to one interaction (its uid) or one account-page session, and nobody without the key can
 * make one. The interaction itself is also bound to the browser by oidc-provider's interaction
 * cookie; the token adds the proof that the POST comes from a page we rendered.
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

/** The pages a form POST is refused with: a body that cannot be read, a missing or wrong token. */
export interface FormRefusals {
  unreadable(ctx: Context, err: FormBodyError): void;
  forbidden(ctx: Context): void;
}

/**
 * Reads a form POST into `ctx.state.form` and checks its CSRF token against `keyOf(ctx)` (the
 * interaction's uid, or the account page's session); refuses with `refusals` otherwise. One
 * middleware for every form of the sign-in and account pages.
 */
export function csrfForm(csrf: Csrf, keyOf: (ctx: Context) => string | undefined, refusals: FormRefusals): Middleware {
  return async (ctx, next) => {
    let form: Record<string, string>;
    try {
      form = await readForm(ctx.req);
    } catch (err) {
      if (!(err instanceof FormBodyError)) throw err;
      // the rest of a body too large was not read: the connection cannot carry another request
      if (err.status === 413) ctx.set('connection', 'close');
      return refusals.unreadable(ctx, err);
    }
    const key = keyOf(ctx);
    if (key === undefined || !csrf.verify(key, form[CSRF_FIELD])) return refusals.forbidden(ctx);
    ctx.state.form = form;
    await next();
  };
}

/** The fields of the form `csrfForm` read. */
export const formOf = (ctx: Context): Record<string, string> => ctx.state.form as Record<string, string>;
