import { Router } from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from '../../logger.ts';
import type { AccountService } from '../../services/accounts.ts';
import type { SigninFlow, Visitor } from '../../services/signin-flow.ts';
import { ABORTED } from '../../services/signin-steps.ts';
import { type Csrf, csrfForm, formOf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import type { PasskeyPages } from '../passkey-pages.ts';
import { codeRoutes } from './code-routes.ts';
import { interactionOf, loadInteraction } from './load.ts';
import { passkeyRoutes } from './passkey-routes.ts';
import { createStepPages } from './steps.ts';

/** The one message for every failed sign-in: an unknown user, a wrong password and a disabled account look alike. */
const SIGNIN_FAILED = 'login.failed';

/** The known-device proof (docs/decisions/0006): a signed cookie naming the logins this browser signed in with. */
const KNOWN_DEVICE_COOKIE = 'idp_known';
const KNOWN_DEVICE_DAYS = 180;

export interface InteractionRouterOptions {
  /** the current provider (the composition root rebuilds it when the signing keys change) */
  provider: () => Provider;
  flow: SigninFlow;
  pages: Pages;
  passkeyPages: PasskeyPages;
  csrf: Csrf;
  log: Logger;
  accounts: Pick<AccountService, 'rememberLocale'>;
}

const minutes = (seconds: number) => Math.max(1, Math.ceil(seconds / 60));

/**
 * The sign-in pages on `/interaction/{uid}`, after oidc-provider's example wiring
 * (`example/routes/koa.js`): each route loads the interaction once, asks the sign-in flow
 * (src/services/signin-flow.ts) for the next step and answers it (./steps.ts). Mounted before
 * the provider's own routes.
 */
export function createInteractionRouter(options: InteractionRouterOptions): Router {
  const { provider, flow, pages, csrf } = options;
  const steps = createStepPages(options);
  const router = new Router();
  const interaction = (prompt?: 'login' | 'consent') => loadInteraction(provider, steps.expired, prompt);
  const visitor = (ctx: Context): Visitor => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined });
  const form = csrfForm(csrf, (ctx) => (ctx as Context & { params?: Record<string, string> }).params?.uid, {
    unreadable: (ctx, err) =>
      pages.error(ctx, {
        status: err.status,
        text: 'error.form_unreadable',
        code: err.code,
      }),
    forbidden: (ctx) =>
      pages.error(ctx, {
        status: 403,
        text: 'error.form_expired',
        code: 'csrf_mismatch',
      }),
  });

  router.get('/interaction/:uid', interaction(), async (ctx) => {
    const i = interactionOf(ctx);
    return steps.show(ctx, i, await flow.show(i.facts, visitor(ctx)));
  });

  router.post('/interaction/:uid/login', form, interaction('login'), async (ctx) => {
    const i = interactionOf(ctx);
    const fields = formOf(ctx);
    const login = (fields.username ?? '').trim().slice(0, 254);
    const outcome = await flow.password(i.facts, visitor(ctx), {
      login,
      password: fields.password ?? '',
      knownDevices: ctx.cookies.get(KNOWN_DEVICE_COOKIE, { signed: true }),
      passkeyCapable: fields.passkey_capable === '1',
    });
    if (outcome.kind === 'refused') {
      ctx.set('Retry-After', String(outcome.retryAfter));
      return pages.error(ctx, {
        status: 429,
        // the same words whether or not the account exists: the lock is on the name typed
        text: outcome.reason === 'locked' ? 'error.signin_locked' : 'error.signin_limited',
        vars: { minutes: minutes(outcome.retryAfter) },
        code: 'too_many_requests',
      });
    }
    // 200, not 4xx: the page itself is the answer, and the username stays filled in
    if (outcome.kind === 'failed') return steps.login(ctx, i, { username: login, error: SIGNIN_FAILED });
    // this browser is spared the account-wide locks of this name from now on
    ctx.cookies.set(KNOWN_DEVICE_COOKIE, outcome.knownDevices, {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      path: '/interaction',
      maxAge: KNOWN_DEVICE_DAYS * 86_400_000,
    });
    return steps.show(ctx, i, outcome.step, true, { locale: outcome.locale });
  });

  router.post('/interaction/:uid/confirm', form, interaction('consent'), (ctx) => {
    const i = interactionOf(ctx);
    return steps.show(ctx, i, flow.consent(i.facts, visitor(ctx), formOf(ctx).decision === 'allow'), true);
  });

  // a link, so it works without a form; it only ends this browser's own interaction
  router.get('/interaction/:uid/abort', interaction(), (ctx) => steps.show(ctx, interactionOf(ctx), ABORTED, true));

  passkeyRoutes(router, { ...options, steps, form, visitor });
  codeRoutes(router, { ...options, steps, form, visitor });
  return router;
}
