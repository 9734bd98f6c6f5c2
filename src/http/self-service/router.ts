import { Router } from '@koa/router';
import type { Context } from 'koa';
import type { EmailVerificationService } from '../../services/email-verification.ts';
import type { PasswordResetService } from '../../services/password-reset.ts';
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
const who = (ctx: Context) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent').slice(0, 256) || undefined });

/** The one answer to "forgot password", whether or not an account matched. */
const RESET_SENT = {
  title: 'Check your mail',
  message:
    'If an account matches what you entered and has an email address, a link to choose a new password is on its way. It works for 15 minutes, once.',
};

/**
 * The pages people use without a session: "Forgot password?" (`/password/forgot`), the mailed
 * reset link (`/password/reset?token=...`), sign-up (`/signup`, with SIGNUP_ENABLED) and the
 * mailed confirmation of an address (`/email/verify?token=...`). A mailed link only opens a page;
 * its token is used by the form posted from there (a mail scanner that follows links uses nothing).
 */
export function createSelfServiceRouter(options: SelfServiceRouterOptions): Router {
  const { passwordReset, emailVerification, pages } = options;
  const router = new Router();
  const forms = anonymousForms(options.csrf, {
    unreadable: (ctx, err) =>
      pages.error(ctx, {
        status: err.status,
        title: 'This form could not be read',
        message: err.message,
        backUrl: '/',
      }),
    forbidden: (ctx) =>
      pages.error(ctx, {
        status: 403,
        title: 'This form has expired',
        message: 'For your security the form could not be accepted. Open the page again and retry.',
        code: 'csrf_mismatch',
        backUrl: '/',
        backLabel: 'Start again',
      }),
  });
  const message = (
    ctx: Context,
    data: { title: string; message: string; backUrl?: string; backLabel?: string },
    status = 200,
  ) => pages.render(ctx, 'message', data, [], status);
  const unavailable = (ctx: Context, what: string) =>
    pages.error(ctx, {
      status: 404,
      title: `${what} is not available`,
      message: 'This server does not offer it. Ask your administrator for help.',
      code: 'not_available',
      backUrl: '/',
      backLabel: 'Home',
    });
  const tooMany = (ctx: Context, retryAfter: number) => {
    ctx.set('Retry-After', String(retryAfter));
    pages.error(ctx, {
      status: 429,
      title: 'Too many requests',
      message: `Wait ${minutes(retryAfter)} minute(s) and try again.`,
      code: 'too_many_requests',
      backUrl: '/',
      backLabel: 'Home',
    });
  };
  const expiredLink = (ctx: Context, again: { url: string; label: string }) =>
    pages.error(ctx, {
      status: 400,
      title: 'This link has expired or was used',
      message: 'Links we mail work once and for a short time. Ask for a new one.',
      code: 'invalid_token',
      backUrl: again.url,
      backLabel: again.label,
    });
  const FORGOT_AGAIN = { url: '/password/forgot', label: 'Ask for a new link' };

  // ---- password reset
  router.get('/password/forgot', (ctx) => {
    if (!passwordReset.available) return unavailable(ctx, 'Password reset');
    pages.render(ctx, 'forgot-password', { csrf: forms.token(ctx) }, [], 200);
  });

  router.post('/password/forgot', forms.form, async (ctx) => {
    if (!passwordReset.available) return unavailable(ctx, 'Password reset');
    const outcome = await passwordReset.request(field(ctx, 'username'), who(ctx));
    if (outcome.kind === 'limited') return tooMany(ctx, outcome.retryAfter);
    message(ctx, RESET_SENT);
  });

  const resetForm = (ctx: Context, token: string, username: string, error?: string) =>
    pages.render(ctx, 'reset-password', { csrf: forms.token(ctx), token, username, error }, [], error ? 400 : 200);

  router.get('/password/reset', async (ctx) => {
    if (!passwordReset.available) return unavailable(ctx, 'Password reset');
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const found = await passwordReset.check(token);
    if (!found) return expiredLink(ctx, FORGOT_AGAIN);
    resetForm(ctx, token, found.username);
  });

  router.post('/password/reset', forms.form, async (ctx) => {
    if (!passwordReset.available) return unavailable(ctx, 'Password reset');
    const token = field(ctx, 'token');
    const outcome = await passwordReset.complete(token, formOf(ctx).password ?? '', who(ctx));
    if (!outcome.ok && outcome.reason === 'weak_password') {
      const found = await passwordReset.check(token);
      if (found) return resetForm(ctx, token, found.username, outcome.message);
    }
    if (!outcome.ok) return expiredLink(ctx, FORGOT_AGAIN);
    message(ctx, {
      title: 'Your password was changed',
      message:
        'Every device that was signed in to your account was signed out. Go back to the application and sign in with your new password.',
    });
  });

  // ---- sign-up
  const signupForm = (
    ctx: Context,
    data: { username?: string; email?: string; error?: string; field?: string },
    status = 200,
  ) => pages.render(ctx, 'signup', { csrf: forms.token(ctx), ...data }, [], status);

  router.get('/signup', (ctx) => {
    if (!emailVerification.signupEnabled) return unavailable(ctx, 'Creating an account');
    signupForm(ctx, {});
  });

  router.post('/signup', forms.form, async (ctx) => {
    if (!emailVerification.signupEnabled) return unavailable(ctx, 'Creating an account');
    const input = {
      username: field(ctx, 'username'),
      email: field(ctx, 'email'),
      password: formOf(ctx).password ?? '',
    };
    const outcome = await emailVerification.signup(input, who(ctx));
    if (outcome.kind === 'limited') return tooMany(ctx, outcome.retryAfter);
    if (outcome.kind === 'invalid') {
      const { field: name, message: text } = outcome.problem;
      const label = name === 'username' ? 'Username' : name === 'email' ? 'Email' : 'Password';
      return signupForm(
        ctx,
        { username: input.username, email: input.email, field: name, error: `${label}: ${text}` },
        400,
      );
    }
    message(ctx, {
      title: 'Check your mail',
      message: `We sent a message to ${input.email.trim().toLowerCase()}. Follow the link in it to finish creating your account.`,
    });
  });

  // ---- email confirmation (sign-up and changed addresses)
  router.get('/email/verify', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const found = await emailVerification.check(token);
    if (!found) return expiredLink(ctx, { url: '/account', label: 'Go to your account' });
    pages.render(ctx, 'verify-email', { csrf: forms.token(ctx), token, ...found }, [], 200);
  });

  router.post('/email/verify', forms.form, async (ctx) => {
    const outcome = await emailVerification.confirm(field(ctx, 'token'), who(ctx));
    if (outcome.ok) {
      return message(ctx, {
        title: 'Your address is confirmed',
        message:
          outcome.kind === 'signup'
            ? `Your account ${outcome.username} is ready. Go back to the application and sign in.`
            : 'Thank you: your account uses this address from now on.',
        backUrl: '/account',
        backLabel: 'Go to your account',
      });
    }
    if (outcome.reason === 'invalid_token') return expiredLink(ctx, { url: '/account', label: 'Go to your account' });
    pages.error(ctx, {
      status: 409,
      title: outcome.reason === 'email_taken' ? 'This address is in use' : 'This username was taken',
      message:
        outcome.reason === 'email_taken'
          ? 'Another account uses this address now. Nothing was changed.'
          : 'Someone took this username before you confirmed. Sign up again with another one.',
      code: 'conflict',
      backUrl: outcome.reason === 'email_taken' ? '/account' : '/signup',
      backLabel: outcome.reason === 'email_taken' ? 'Go to your account' : 'Sign up again',
    });
  });

  return router;
}
