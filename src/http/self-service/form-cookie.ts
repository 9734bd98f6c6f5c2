import { randomBytes } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { type Csrf, csrfForm, type FormRefusals } from '../middleware/csrf.ts';

/** A random value per browser that the anonymous forms' CSRF tokens are bound to (no session exists yet). */
const FORM_COOKIE = 'idp_form';

/**
 * CSRF for the forms people use before they have a session (forgot password, reset, sign-up,
 * email confirmation): the token in the form is bound to a signed, HttpOnly cookie this browser
 * got with the page, so another site cannot post the form for someone.
 */
export function anonymousForms(csrf: Csrf, refusals: FormRefusals) {
  const read = (ctx: Context) => ctx.cookies.get(FORM_COOKIE, { signed: true });
  return {
    /** the token for a page's form (setting the cookie on the first page) */
    token(ctx: Context): string {
      let value = read(ctx);
      if (value === undefined || !/^[A-Za-z0-9_-]{22}$/.test(value)) {
        value = randomBytes(16).toString('base64url');
        ctx.cookies.set(FORM_COOKIE, value, {
          signed: true,
          httpOnly: true,
          sameSite: 'lax',
          secure: ctx.secure,
          path: '/',
          maxAge: 86_400_000,
        });
      }
      return csrf.token(`form:${value}`);
    },
    /** reads the POSTed form and checks its token */
    form: csrfForm(
      csrf,
      (ctx) => {
        const value = read(ctx);
        return value === undefined ? undefined : `form:${value}`;
      },
      refusals,
    ) as Middleware,
  };
}
