import { Router, type RouterContext } from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import type { Logger } from '../../logger.ts';
import { decideAccountChange } from '../../services/account-changes.ts';
import type { AccountService } from '../../services/accounts.ts';
import { authenticationMethods, MFA_REASON, type MfaDecision } from '../../services/authentication-policy.ts';
import type { PasskeyService } from '../../services/passkeys.ts';
import type { PendingSignIn, PendingSignIns } from '../../services/pending-signins.ts';
import type { Csrf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import type { PasskeyPages } from '../passkey-pages.ts';
import {
  authenticationResponse,
  ceremonyFailed,
  jsonErrors,
  readCeremonyBody,
  registrationResponse,
} from '../webauthn-json.ts';
import { FormBodyError, readForm } from './form-body.ts';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

export interface PasskeyInteractionOptions {
  provider: () => Provider;
  passkeys: PasskeyService;
  accounts: Pick<AccountService, 'get'>;
  pending: PendingSignIns;
  needsMfa: MfaDecision;
  csrf: Csrf;
  pages: Pages;
  passkeyPages: PasskeyPages;
  log: Logger;
}

/** What the sign-in router calls at its two decision points. */
export interface PasskeyHooks {
  /** After a correct password: true when this took over the response (a 303 to the passkey step). */
  afterPassword(ctx: Context, interaction: Details, userId: string, form: Record<string, string>): Promise<boolean>;
  /** Before the login page renders: true when the passkey step was rendered instead. */
  loginPage(ctx: Context, interaction: Details): Promise<boolean>;
}

/**
 * Passkeys inside an interaction (`/interaction/{uid}/passkey/...`): passwordless sign-in, the
 * second factor after a password, and the offer to add a passkey after a password sign-in.
 * Challenges are bound to `interaction:<uid>`; the interaction itself is bound to this browser
 * by oidc-provider's cookie.
 */
export function createPasskeyInteraction(options: PasskeyInteractionOptions): {
  router: Router;
  hooks: PasskeyHooks;
} {
  const { passkeys, accounts, pending: pendingSignIns, needsMfa, csrf, pages, passkeyPages, log } = options;
  const router = new Router();
  const binding = (uid: string) => `interaction:${uid}`;

  const details = async (ctx: Context, uid: string | undefined): Promise<Details | undefined> => {
    try {
      const found = await options.provider().interactionDetails(ctx.req, ctx.res);
      return found.uid === uid && found.prompt.name === 'login' ? found : undefined;
    } catch (err) {
      if (err instanceof Error && err.name === 'SessionNotFound') return undefined;
      throw err;
    }
  };

  const clientOf = async (interaction: Details) => {
    const id = interaction.params.client_id;
    return typeof id === 'string' ? options.provider().Client.find(id) : undefined;
  };

  const mfaRequest = async (interaction: Details) => {
    const client = await clientOf(interaction);
    return {
      clientId: client?.clientId,
      clientRequiresMfa: client?.metadata().require_mfa === true,
      params: interaction.params as Record<string, unknown>,
    };
  };

  const pendingOf = (uid: string) => pendingSignIns.get(uid);
  const savePending = (uid: string, pending: PendingSignIn) => pendingSignIns.save(uid, pending);

  /** The redirect that finishes the interaction (followed by the page script, or answered with 303). */
  const result = async (ctx: Context, outcome: InteractionResults, uid: string) => {
    const url = await options
      .provider()
      .interactionResult(ctx.req, ctx.res, outcome, { mergeWithLastSubmission: false });
    await pendingSignIns.clear(uid);
    return url;
  };

  /** MFA is demanded and the account has no passkey: the application gets a clear error (303). */
  const refuseWithoutPasskey = async (ctx: Context, uid: string) => {
    const url = await result(
      ctx,
      {
        error: 'unmet_authentication_requirements',
        error_description: 'a passkey is required as a second factor and the account has none',
      },
      uid,
    );
    ctx.status = 303;
    ctx.redirect(url);
    return true;
  };

  const renderStep = async (ctx: Context, interaction: Details, mode: PendingSignIn['mode']) => {
    const client = await clientOf(interaction);
    passkeyPages.step(ctx, {
      uid: interaction.uid,
      csrf: csrf.token(interaction.uid),
      mode,
      clientName: client?.clientName ?? client?.clientId,
      redirectUri: typeof interaction.params.redirect_uri === 'string' ? interaction.params.redirect_uri : undefined,
    });
  };

  const expiredJson = (ctx: Context) => ceremonyFailed(ctx, 'session_not_found', 400);
  const who = (ctx: Context, interaction: Details) => ({
    ip: ctx.ip,
    clientId: typeof interaction.params.client_id === 'string' ? interaction.params.client_id : undefined,
  });

  const hooks: PasskeyHooks = {
    async afterPassword(ctx, interaction, userId, form) {
      const need = await needsMfa(await mfaRequest(interaction), userId);
      const registered = await passkeys.list(userId);
      if (need && registered.length === 0) {
        // OpenID Connect Unmet Authentication Requirements 1.0: the client gets a clear error
        log.info(
          { event: 'signin.failed', reason: 'mfa_unavailable', userId, ...who(ctx, interaction) },
          'sign-in failed',
        );
        return refuseWithoutPasskey(ctx, interaction.uid);
      }
      const offer = !need && registered.length === 0 && form.passkey_capable === '1';
      if (!need && !offer) return false;
      await savePending(interaction.uid, { accountId: userId, password: true, mode: need ? 'second-factor' : 'offer' });
      ctx.status = 303;
      ctx.redirect(`/interaction/${interaction.uid}`);
      return true;
    },

    async loginPage(ctx, interaction) {
      const pending = await pendingOf(interaction.uid);
      if (pending) {
        await renderStep(ctx, interaction, pending.mode);
        return true;
      }
      // a signed-in session lacking the second factor this request demands: step up
      const accountId = interaction.session?.accountId;
      if (accountId !== undefined && interaction.prompt.reasons.includes(MFA_REASON)) {
        if ((await passkeys.list(accountId)).length === 0) {
          return refuseWithoutPasskey(ctx, interaction.uid);
        }
        const password = (interaction.session as { amr?: string[] } | undefined)?.amr?.includes('pwd') ?? true;
        await savePending(interaction.uid, { accountId, password, mode: 'second-factor' });
        await renderStep(ctx, interaction, 'second-factor');
        return true;
      }
      return false;
    },
  };

  type Ctx = RouterContext;

  // Options for a passkey sign-in: discoverable (any account) or, in the second-factor step, this
  // account's. A GET: it changes nothing but issue a challenge bound to this browser's interaction,
  // and another site cannot read the answer (same-origin policy), so it needs no CSRF token.
  router.get('/interaction/:uid/passkey/options', (ctx: Ctx) =>
    jsonErrors(ctx, async () => {
      const interaction = await details(ctx, ctx.params.uid);
      if (!interaction) return expiredJson(ctx);
      const pending = await pendingOf(interaction.uid);
      const userId = pending?.mode === 'second-factor' ? pending.accountId : undefined;
      ctx.set('cache-control', 'no-store');
      ctx.body = await passkeys.authenticationOptions(binding(interaction.uid), userId);
    }),
  );

  router.post('/interaction/:uid/passkey/verify', (ctx: Ctx) =>
    jsonErrors(ctx, async () => {
      const interaction = await details(ctx, ctx.params.uid);
      if (!interaction) return expiredJson(ctx);
      const body = await readCeremonyBody(ctx, csrf, interaction.uid);
      const response = authenticationResponse(body.response);
      const pending = await pendingOf(interaction.uid);
      const secondFactor = pending?.mode === 'second-factor';
      const proof = await passkeys.authenticate(binding(interaction.uid), response, who(ctx, interaction));
      if (!proof.ok) return ceremonyFailed(ctx, proof.reason);
      const { userId } = proof.value;
      if (secondFactor && userId !== pending.accountId) return ceremonyFailed(ctx, 'wrong_user');

      const password = secondFactor ? pending.password : false;
      const methods = authenticationMethods({ password, passkey: proof.value });
      // passwordless but not multi-factor (no user verification) where MFA is demanded: say so
      if (methods.acr !== 'urn:idp:acr:mfa' && (await needsMfa(await mfaRequest(interaction), userId))) {
        return ceremonyFailed(ctx, 'verification_required');
      }
      log.info(
        {
          event: 'signin.succeeded',
          method: 'passkey',
          secondFactor,
          userId,
          amr: methods.amr,
          ...who(ctx, interaction),
        },
        'sign-in succeeded',
      );
      const url = await result(
        ctx,
        { login: { accountId: userId, amr: methods.amr, acr: methods.acr, remember: true } },
        interaction.uid,
      );
      ctx.set('cache-control', 'no-store');
      ctx.body = { redirect: url };
    }),
  );

  // the offer after a password sign-in: register, then finish the sign-in the password began
  const offered = async (ctx: Ctx) => {
    const interaction = await details(ctx, ctx.params.uid);
    const pending = interaction && (await pendingOf(interaction.uid));
    if (!interaction || pending?.mode !== 'offer') return undefined;
    // the offer follows a password alone: it may enrol a first passkey, never one more
    // (a passkey added meanwhile, in another tab, ends it)
    const decision = decideAccountChange('add-passkey', {
      secondFactors: (await passkeys.list(pending.accountId)).length,
      session: { amr: ['pwd'], authTime: 0 },
      stepUpAt: undefined,
      now: Math.floor(Date.now() / 1000),
    });
    return decision.allowed ? { interaction, pending } : undefined;
  };
  const finishPassword = (ctx: Context, interaction: Details, accountId: string) => {
    const methods = authenticationMethods({ password: true });
    return result(ctx, { login: { accountId, amr: methods.amr, acr: methods.acr, remember: true } }, interaction.uid);
  };

  router.post('/interaction/:uid/passkey/register/options', (ctx: Ctx) =>
    jsonErrors(ctx, async () => {
      const found = await offered(ctx);
      if (!found) return expiredJson(ctx);
      await readCeremonyBody(ctx, csrf, found.interaction.uid);
      const user = await accounts.get(found.pending.accountId);
      if (!user) return expiredJson(ctx);
      ctx.set('cache-control', 'no-store');
      ctx.body = await passkeys.registrationOptions(user, binding(found.interaction.uid));
    }),
  );

  router.post('/interaction/:uid/passkey/register/verify', (ctx: Ctx) =>
    jsonErrors(ctx, async () => {
      const found = await offered(ctx);
      if (!found) return expiredJson(ctx);
      const body = await readCeremonyBody(ctx, csrf, found.interaction.uid);
      const response = registrationResponse(body.response);
      const user = await accounts.get(found.pending.accountId);
      if (!user) return expiredJson(ctx);
      const added = await passkeys.register(
        user,
        binding(found.interaction.uid),
        response,
        body.name,
        who(ctx, found.interaction),
      );
      if (!added.ok) return ceremonyFailed(ctx, added.reason);
      ctx.set('cache-control', 'no-store');
      ctx.body = { redirect: await finishPassword(ctx, found.interaction, user.id) };
    }),
  );

  // "Not now": a form, so it works without JavaScript
  router.post('/interaction/:uid/passkey/skip', async (ctx: Ctx) => {
    let form: Record<string, string>;
    try {
      form = await readForm(ctx.req);
    } catch (err) {
      if (!(err instanceof FormBodyError)) throw err;
      return pages.error(ctx, { status: err.status, title: 'This form could not be read', message: err.message });
    }
    const found = await offered(ctx);
    if (!found || !csrf.verify(found.interaction.uid, form.csrf)) {
      return pages.error(ctx, {
        status: found ? 403 : 400,
        title: 'This sign-in page has expired',
        message: 'Go back to the application and start signing in again.',
        code: found ? 'csrf_mismatch' : 'session_not_found',
      });
    }
    const url = await finishPassword(ctx, found.interaction, found.pending.accountId);
    ctx.status = 303;
    ctx.redirect(url);
  });

  return { router, hooks };
}
