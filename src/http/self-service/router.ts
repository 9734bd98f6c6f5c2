import { Router } from '@koa/router';
import type { Context } from 'koa';
import type { EmailVerificationService, FieldProblemCode } from '../../services/email-verification.ts';
import type { PasswordResetService } from '../../services/password-reset.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../services/passwords.ts';
import { type Csrf, formOf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import { anonymousForms } from './form-cookie.ts';

export interface SelfServiceRouterOptions {
  passwordReset: PasswordResetService;
  emailVerification: EmailVerificationService;
  csrf: Csrf;
  pages: Pages;
}

const minutes = (seconds: number) => Math.max(1, Math.ceil(seconds / 60));
const field = (ctx: Context, name: string) => (formOf(ctx)[name] ?? '').slice(0, 1024);

/** The one answer to "forgot password", whether or not an account matched (`<text>.title` / `.message` in views/locales). */
const RESET_SENT = { text: 'self.reset_sent' };

/** The words for a refused field (views/locales `problem.<code>`); the password rule names its limit. */
const problemKey = (code: FieldProblemCode) => `problem.${code}`;
const PROBLEM_VARS = { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH };

/**
 * The pages people use without a session: "Forgot password?" (`/password/forgot`), the mailed
 * reset link (`/password/reset?token=...`), sign-up (`/signup`, with SIGNUP_ENABLED) and the
 * mailed confirmation of an address (`/email/verify?token=...`). A mailed link only opens a page;
 * its token is used by the form posted from there (a mail scanner that follows links uses nothing).
 */
export function createSelfServiceRouter(options: SelfServiceRouterOptions): Router {
  const { passwordReset, emailVerification, pages } = options;
  const router = new Router();
  // mails to someone we know nothing of yet are written in the language of the page they used
  const who = (ctx: Context) => ({
    ip: ctx.ip,
    userAgent: ctx.get('user-agent').slice(0, 256) || undefined,
    locale: pages.localeOf(ctx),
  });
  const forms = anonymousForms(options.csrf, {
    unreadable: (ctx, err) =>
      pages.error(ctx, {
        status: err.status,
        text: 'error.self_form_unreadable',
        detail: err.message,
        backUrl: '/',
      }),
    forbidden: (ctx) =>
      pages.error(ctx, {
        status: 403,
        text: 'error.self_form_expired',
        code: 'csrf_mismatch',
        backUrl: '/',
        backLabel: 'self.start_again',
      }),
  });
  /** A page of words only: `text` names the catalog entry (`.title`, `.message`), `vars` its placeholders. */
  const message = (
    ctx: Context,
    data: { text: string; vars?: Record<string, string>; backUrl?: string; backLabel?: string },
    status = 200,
  ) => pages.render(ctx, 'message', { vars: {}, ...data }, [], status);
  const unavailable = (ctx: Context, what: 'reset' | 'signup') =>
    pages.error(ctx, {
      status: 404,
      text: `error.unavailable_${what}`,
      code: 'not_available',
      backUrl: '/',
      backLabel: 'self.home',
    });
  const tooMany = (ctx: Context, retryAfter: number) => {
    ctx.set('Retry-After', String(retryAfter));
    pages.error(ctx, {
      status: 429,
      text: 'error.self_limited',
      vars: { minutes: minutes(retryAfter) },
      code: 'too_many_requests',
      backUrl: '/',
      backLabel: 'self.home',
    });
  };
  const expiredLink = (ctx: Context, again: { url: string; label: string }) =>
    pages.error(ctx, {
      status: 400,
      text: 'error.link_expired',
      code: 'invalid_token',
      backUrl: again.url,
      backLabel: again.label,
    });
  const FORGOT_AGAIN = { url: '/password/forgot', label: 'self.ask_new_link' };

  // ---- password reset
  router.get('/password/forgot', (ctx) => {
    if (!passwordReset.available) return unavailable(ctx, 'reset');
    pages.render(ctx, 'forgot-password', { csrf: forms.token(ctx) }, [], 200);
  });

  router.post('/password/forgot', forms.form, async (ctx) => {
    if (!passwordReset.available) return unavailable(ctx, 'reset');
    const outcome = await passwordReset.request(field(ctx, 'username'), who(ctx));
    if (outcome.kind === 'limited') return tooMany(ctx, outcome.retryAfter);
    message(ctx, RESET_SENT);
  });

  const resetForm = (ctx: Context, token: string, username: string, error?: string) =>
    pages.render(
      ctx,
      'reset-password',
      { csrf: forms.token(ctx), token, username, error, errorVars: PROBLEM_VARS },
      [],
      error ? 400 : 200,
    );

  router.get('/password/reset', async (ctx) => {
    if (!passwordReset.available) return unavailable(ctx, 'reset');
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const found = await passwordReset.check(token);
    if (!found) return expiredLink(ctx, FORGOT_AGAIN);
    resetForm(ctx, token, found.username);
  });

  router.post('/password/reset', forms.form, async (ctx) => {
    if (!passwordReset.available) return unavailable(ctx, 'reset');
    const token = field(ctx, 'token');
    const outcome = await passwordReset.complete(token, formOf(ctx).password ?? '', who(ctx));
    if (!outcome.ok && outcome.reason === 'weak_password') {
      const found = await passwordReset.check(token);
      if (found) return resetForm(ctx, token, found.username, problemKey(outcome.code));
    }
    if (!outcome.ok) return expiredLink(ctx, FORGOT_AGAIN);
    message(ctx, { text: 'self.password_changed' });
  });

  // ---- sign-up
  const signupForm = (
    ctx: Context,
    data: { username?: string; email?: string; error?: string; field?: string },
    status = 200,
  ) => pages.render(ctx, 'signup', { csrf: forms.token(ctx), errorVars: PROBLEM_VARS, ...data }, [], status);

  router.get('/signup', (ctx) => {
    if (!emailVerification.signupEnabled) return unavailable(ctx, 'signup');
    signupForm(ctx, {});
  });

  router.post('/signup', forms.form, async (ctx) => {
    if (!emailVerification.signupEnabled) return unavailable(ctx, 'signup');
    const input = {
      username: field(ctx, 'username'),
      email: field(ctx, 'email'),
      password: formOf(ctx).password ?? '',
    };
    const outcome = await emailVerification.signup(input, who(ctx));
    if (outcome.kind === 'limited') return tooMany(ctx, outcome.retryAfter);
    if (outcome.kind === 'invalid') {
      const { field: name, code } = outcome.problem;
      return signupForm(
        ctx,
        { username: input.username, email: input.email, field: name, error: problemKey(code) },
        400,
      );
    }
    message(ctx, { text: 'self.signup_sent', vars: { email: input.email.trim().toLowerCase() } });
  });

  // ---- email confirmation (sign-up and changed addresses)
  router.get('/email/verify', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const found = await emailVerification.check(token);
    if (!found) return expiredLink(ctx, { url: '/account', label: 'common.go_to_account' });
    pages.render(ctx, 'verify-email', { csrf: forms.token(ctx), token, ...found }, [], 200);
  });

  router.post('/email/verify', forms.form, async (ctx) => {
    const outcome = await emailVerification.confirm(field(ctx, 'token'), who(ctx));
    if (outcome.ok) {
      return message(ctx, {
        text: outcome.kind === 'signup' ? 'self.confirmed_signup' : 'self.confirmed_change',
        vars: { username: outcome.username },
        backUrl: '/account',
        backLabel: 'common.go_to_account',
      });
    }
    if (outcome.reason === 'invalid_token') return expiredLink(ctx, { url: '/account', label: 'common.go_to_account' });
    pages.error(ctx, {
      status: 409,
      text: outcome.reason === 'email_taken' ? 'error.email_taken' : 'error.username_taken',
      code: 'conflict',
      backUrl: outcome.reason === 'email_taken' ? '/account' : '/signup',
      backLabel: outcome.reason === 'email_taken' ? 'common.go_to_account' : 'self.signup_again',
    });
  });

  return router;
}
