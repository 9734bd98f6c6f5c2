import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { SigninFlow, Visitor } from '../../services/signin-flow.ts';
import type { Csrf } from '../middleware/csrf.ts';
import {
  authenticationResponse,
  ceremonyFailed,
  jsonErrors,
  readCeremonyBody,
  registrationResponse,
} from '../webauthn-json.ts';
import { interactionOf, loadInteraction } from './load.ts';
import type { StepPages } from './steps.ts';

export interface PasskeyRouteDeps {
  provider: () => Provider;
  flow: SigninFlow;
  csrf: Csrf;
  steps: StepPages;
  /** the form + CSRF middleware of the interaction router */
  form: Middleware;
  visitor(ctx: Context): Visitor;
}

/**
 * The passkey steps of an interaction (`/interaction/{uid}/passkey/...`), answered in JSON for the
 * page script: passwordless sign-in, the second factor after a password, and the offer to add a
 * passkey after a password sign-in. Every one is part of the login prompt.
 */
export function passkeyRoutes(router: Router, deps: PasskeyRouteDeps): void {
  const { flow, csrf, steps, visitor } = deps;
  const expiredJson = (ctx: Context) => ceremonyFailed(ctx, 'session_not_found', 400);
  // the page script reads JSON, errors included
  const json: Middleware = (ctx, next) => jsonErrors(ctx, next);
  const interaction = loadInteraction(deps.provider, expiredJson, 'login');
  const answer = (ctx: Context, body: unknown) => {
    ctx.set('cache-control', 'no-store');
    ctx.body = body;
  };
  /** The interaction ends with `login`: the page script follows the redirect. */
  const signedIn = async (ctx: Context, login: Parameters<StepPages['loginResult']>[0]) => {
    const url = await steps.finish(interactionOf(ctx), steps.loginResult(login));
    return url === undefined ? expiredJson(ctx) : answer(ctx, { redirect: url });
  };

  // Options for a passkey sign-in. A GET: it changes nothing but issue a challenge bound to this
  // browser's interaction, and another site cannot read the answer (same-origin policy), so it
  // needs no CSRF token.
  router.get('/interaction/:uid/passkey/options', json, interaction, async (ctx) =>
    answer(ctx, await flow.passkeyOptions(interactionOf(ctx).facts)),
  );

  router.post('/interaction/:uid/passkey/verify', json, interaction, async (ctx) => {
    const { facts } = interactionOf(ctx);
    const body = await readCeremonyBody(ctx, csrf, facts.uid);
    const result = await flow.passkey(facts, visitor(ctx), authenticationResponse(body.response));
    return result.ok ? signedIn(ctx, result.value) : ceremonyFailed(ctx, result.reason);
  });

  // the offer after a password sign-in: register, then finish the sign-in the password began
  router.post('/interaction/:uid/passkey/register/options', json, interaction, async (ctx) => {
    const { facts } = interactionOf(ctx);
    await readCeremonyBody(ctx, csrf, facts.uid);
    const options = await flow.offerOptions(facts);
    return options ? answer(ctx, options) : expiredJson(ctx);
  });

  router.post('/interaction/:uid/passkey/register/verify', json, interaction, async (ctx) => {
    const { facts } = interactionOf(ctx);
    const body = await readCeremonyBody(ctx, csrf, facts.uid);
    const added = await flow.acceptOffer(facts, visitor(ctx), registrationResponse(body.response), body.name);
    if (!added) return expiredJson(ctx);
    return added.ok ? signedIn(ctx, added.value) : ceremonyFailed(ctx, added.reason);
  });

  // "Not now": a form, so it works without JavaScript
  router.post(
    '/interaction/:uid/passkey/skip',
    deps.form,
    loadInteraction(deps.provider, steps.expired, 'login'),
    async (ctx) => {
      const i = interactionOf(ctx);
      const login = await flow.skipOffer(i.facts);
      return login ? steps.show(ctx, i, { name: 'finish', login }, true) : steps.expired(ctx);
    },
  );
}
