import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { SigninFlow, Visitor } from '../../services/signin-flow.ts';
import type { Csrf } from '../middleware/csrf.ts';
import { formOf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import type { PasskeyPages } from '../passkey-pages.ts';
import { interactionOf, loadInteraction } from './load.ts';
import type { StepPages } from './steps.ts';

/** One answer to every refused code: a wrong code, one used already and a used recovery code look alike. */
const CODE_FAILED = 'step.code.failed';

export interface CodeRouteDeps {
  provider: () => Provider;
  flow: SigninFlow;
  pages: Pages;
  passkeyPages: PasskeyPages;
  csrf: Csrf;
  steps: StepPages;
  /** the form + CSRF middleware of the interaction router */
  form: Middleware;
  visitor(ctx: Context): Visitor;
}

/**
 * `POST /interaction/{uid}/code`: the code of the second-factor step (an authenticator app's
 * TOTP code or a recovery code), a form that works without JavaScript.
 */
export function codeRoutes(router: Router, deps: CodeRouteDeps): void {
  const { flow, steps, visitor } = deps;
  router.post(
    '/interaction/:uid/code',
    deps.form,
    loadInteraction(deps.provider, steps.expired, 'login'),
    async (ctx) => {
      const i = interactionOf(ctx);
      const result = await flow.code(i.facts, visitor(ctx), (formOf(ctx).code ?? '').slice(0, 64));
      if (result.ok) return steps.show(ctx, i, { name: 'finish', login: result.login }, true);
      if (result.reason === 'no_step') return steps.expired(ctx);
      if (result.reason === 'too_many_attempts') {
        ctx.set('Retry-After', String(result.retryAfter));
        return deps.pages.error(ctx, {
          status: 429,
          text: 'error.code_limited',
          vars: { minutes: Math.max(1, Math.ceil(result.retryAfter / 60)) },
          code: 'too_many_requests',
        });
      }
      // the step page again, with the refusal (200, like a wrong password on the login page)
      const step = await flow.show(i.facts, visitor(ctx));
      if (step.name !== 'passkey') return steps.show(ctx, i, step, true);
      return deps.passkeyPages.step(ctx, {
        uid: i.facts.uid,
        csrf: deps.csrf.token(i.facts.uid),
        mode: step.mode,
        methods: step.methods,
        error: CODE_FAILED,
        clientName: i.clientName,
        redirectUri: i.redirectUri,
      });
    },
  );
}
