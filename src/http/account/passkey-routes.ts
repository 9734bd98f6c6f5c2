import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { AccountChangeService } from '../../services/account-changes.ts';
import type { Csrf } from '../middleware/csrf.ts';
import {
  authenticationResponse,
  ceremonyFailed,
  jsonErrors,
  readCeremonyBody,
  registrationResponse,
} from '../webauthn-json.ts';
import { accountOf, type createAccountSession } from './session.ts';

/** 403 for a change this session may not make yet; 400 for one that cannot be made. */
const refusalStatus = (reason: string) => (reason === 'step_up_required' ? 403 : 400);

/**
 * The account page's passkey ceremonies, in JSON for the page script: the step-up (an assertion
 * with one of the user's own passkeys, bound to this session) and adding a passkey.
 */
export function accountPasskeyRoutes(
  router: Router,
  deps: { changes: AccountChangeService; csrf: Csrf; session: ReturnType<typeof createAccountSession> },
): void {
  const { changes, csrf } = deps;
  const json: Middleware = (ctx, next) => jsonErrors(ctx, next);
  const signedIn = deps.session.load((ctx) => ceremonyFailed(ctx, 'login_required', 401));
  const answer = (ctx: Context, body: unknown) => {
    ctx.set('cache-control', 'no-store');
    ctx.body = body;
  };

  // A GET for the options, like the sign-in page's: it only issues a challenge for this session,
  // and another site cannot read the answer (same-origin policy).
  router.get('/account/step-up/options', json, signedIn, async (ctx) => {
    const { user, session } = accountOf(ctx);
    answer(ctx, await changes.stepUpOptions(user.id, session));
  });

  router.post('/account/step-up/verify', json, signedIn, async (ctx) => {
    const { user, session, csrfKey } = accountOf(ctx);
    const body = await readCeremonyBody(ctx, csrf, csrfKey);
    const proof = await changes.stepUp(user.id, session, authenticationResponse(body.response), { ip: ctx.ip });
    if (!proof.ok) return ceremonyFailed(ctx, proof.reason);
    answer(ctx, { redirect: '/account?notice=confirmed' });
  });

  router.post('/account/passkeys/options', json, signedIn, async (ctx) => {
    const { user, session, csrfKey } = accountOf(ctx);
    await readCeremonyBody(ctx, csrf, csrfKey);
    const options = await changes.registrationOptions(user, session);
    if (!options.ok) return ceremonyFailed(ctx, options.reason, refusalStatus(options.reason));
    answer(ctx, options.value);
  });

  router.post('/account/passkeys/verify', json, signedIn, async (ctx) => {
    const { user, session, csrfKey } = accountOf(ctx);
    const body = await readCeremonyBody(ctx, csrf, csrfKey);
    const added = await changes.addPasskey(user, session, registrationResponse(body.response), body.name, {
      ip: ctx.ip,
    });
    if (!added.ok) return ceremonyFailed(ctx, added.reason, refusalStatus(added.reason));
    answer(ctx, { redirect: '/account?notice=added', passkey: { id: added.value.id, name: added.value.name } });
  });
}
