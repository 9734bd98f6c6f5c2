import { Router, type RouterContext } from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import type { Logger } from '../../logger.ts';
import type { AccountService } from '../../services/accounts.ts';
import { ACR } from '../../services/authentication-policy.ts';
import { type Csrf, requireCsrf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import { FormBodyError, readForm } from './form-body.ts';
import { grantConsent } from './grant.ts';
import type { PasskeyHooks } from './passkeys.ts';
import type { SigninProtection } from './signin-protection.ts';

/** The one message for every failed sign-in: an unknown user, a wrong password and a disabled account look alike. */
const SIGNIN_FAILED = 'Incorrect username or password.';

export interface InteractionRouterOptions {
  /** the current provider (the composition root rebuilds it when the signing keys change) */
  provider: () => Provider;
  accounts: Pick<AccountService, 'authenticate' | 'get'>;
  pages: Pages;
  csrf: Csrf;
  log: Logger;
  /** the passkey step after a password and before the login page (src/http/interaction/passkeys.ts) */
  passkeyHooks: PasskeyHooks;
  /** rate limits, lockout, metrics and security events of sign-in (src/http/interaction/signin-protection.ts) */
  signin: SigninProtection;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;
type Ctx = RouterContext;

/**
 * The sign-in and consent pages, after oidc-provider's example wiring (`example/routes/koa.js`).
 * Mounted at the root before the provider's own routes. Every POST answers 303: after a form
 * POST only 303 guarantees the browser follows with a GET (RFC 9110 §15.4.4; RFC 9700 §4.11).
 */
export function createInteractionRouter(options: InteractionRouterOptions): Router {
  const { accounts, pages, csrf, log } = options;
  const current = options.provider;
  const acr = ACR.password;
  const router = new Router();

  const expired = (ctx: Context) =>
    pages.error(ctx, {
      status: 400,
      title: 'This sign-in page has expired',
      message:
        'Sign-in pages are valid for a short time only, and only in the browser that opened them. Go back to the application and start signing in again.',
      code: 'session_not_found',
    });

  /** The interaction of this browser, checked against the uid in the URL (a stale tab must not act on another one). */
  const details = async (ctx: Ctx): Promise<Details | undefined> => {
    try {
      const found = await current().interactionDetails(ctx.req, ctx.res);
      return found.uid === ctx.params.uid ? found : undefined;
    } catch (err) {
      if (isSessionNotFound(err)) return undefined;
      throw err;
    }
  };

  /** Finishes the interaction and sends the browser on with 303, or shows the expired page. */
  const finish = async (ctx: Ctx, result: InteractionResults, merge: boolean) => {
    let url: string;
    try {
      url = await current().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    } catch (err) {
      if (isSessionNotFound(err)) return expired(ctx);
      throw err;
    }
    ctx.status = 303;
    ctx.redirect(url);
  };

  const clientOf = async (interaction: Details) => {
    const clientId = interaction.params.client_id;
    return typeof clientId === 'string' ? current().Client.find(clientId) : undefined;
  };
  const clientName = (client: Awaited<ReturnType<typeof clientOf>>) => client?.clientName ?? client?.clientId;
  const redirectUri = (interaction: Details) =>
    typeof interaction.params.redirect_uri === 'string' ? interaction.params.redirect_uri : undefined;

  /** Reads the form into `ctx.state.form`; a bad body gets an error page with its status. */
  const form = async (ctx: Ctx, next: Next) => {
    try {
      ctx.state.form = await readForm(ctx.req);
    } catch (err) {
      if (!(err instanceof FormBodyError)) throw err;
      if (err.status === 413) ctx.set('connection', 'close');
      return pages.error(ctx, {
        status: err.status,
        title: 'This form could not be read',
        message: 'Go back to the application and start signing in again.',
        code: err.code,
      });
    }
    await next();
  };

  const forbidden = (ctx: Context) =>
    pages.error(ctx, {
      status: 403,
      title: 'This form has expired',
      message: 'For your security the form could not be accepted. Go back to the application and sign in again.',
      code: 'csrf_mismatch',
    });
  const guard = requireCsrf(csrf, forbidden);

  router.get('/interaction/:uid', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return expired(ctx);
    const client = await clientOf(interaction);
    const { prompt } = interaction;

    if (prompt.name === 'login') {
      if (await options.passkeyHooks.loginPage(ctx, interaction)) return;
      const hint = interaction.params.login_hint;
      return pages.login(ctx, {
        uid: interaction.uid,
        csrf: csrf.token(interaction.uid),
        clientName: clientName(client),
        username: typeof hint === 'string' ? hint.slice(0, 254) : undefined,
        passkeys: true,
        redirectUri: redirectUri(interaction),
      });
    }

    if (prompt.name === 'consent') {
      // first-party applications (marked by the admin) need no consent screen
      if (client?.metadata().first_party === true) {
        const consent = await grantConsent(current(), interaction);
        options.signin.consent(ctx, true, client.clientId, interaction.session?.accountId, { first_party: true });
        return finish(ctx, { consent }, true);
      }
      const missing = prompt.details as ConsentDetails;
      const accountId = interaction.session?.accountId;
      const user = accountId === undefined ? undefined : await accounts.get(accountId);
      const meta = client?.metadata();
      return pages.consent(ctx, {
        uid: interaction.uid,
        csrf: csrf.token(interaction.uid),
        clientName: clientName(client) ?? 'An application',
        accountName: user ? (user.name ?? user.username) : undefined,
        scopes: missing.missingOIDCScope ?? [],
        resourceScopes: missing.missingResourceScopes,
        links: {
          clientUri: stringOrUndefined(meta?.client_uri),
          policyUri: stringOrUndefined(meta?.policy_uri),
          tosUri: stringOrUndefined(meta?.tos_uri),
        },
        redirectUri: redirectUri(interaction),
      });
    }

    log.warn({ prompt: prompt.name }, 'interaction prompt this server has no page for');
    return pages.error(ctx, {
      status: 400,
      title: 'This step is not supported',
      message: 'The application asked for a sign-in step this server does not offer.',
      code: 'unsupported_prompt',
    });
  });

  router.post('/interaction/:uid/login', form, guard, async (ctx) => {
    const interaction = await details(ctx);
    if (interaction?.prompt.name !== 'login') return expired(ctx);
    const fields = ctx.state.form as Record<string, string>;
    const username = (fields.username ?? '').trim().slice(0, 254);
    const password = fields.password ?? '';
    const clientId = typeof interaction.params.client_id === 'string' ? interaction.params.client_id : undefined;
    if (await options.signin.before(ctx, username, clientId)) return;

    const result =
      username === '' || password === ''
        ? ({ ok: false, reason: 'invalid_credentials' } as const)
        : await accounts.authenticate(username, password, { ip: ctx.ip, ...(clientId ? { clientId } : {}) });
    await options.signin.after(
      ctx,
      username,
      result.ok
        ? { ok: true, userId: result.user.id }
        : { ok: false, reason: username === '' || password === '' ? 'empty' : result.reason },
      clientId,
    );

    if (!result.ok) {
      const client = await clientOf(interaction);
      // 200, not 4xx: the page itself is the answer, and the username stays filled in
      return pages.login(ctx, {
        uid: interaction.uid,
        csrf: csrf.token(interaction.uid),
        clientName: clientName(client),
        username,
        error: SIGNIN_FAILED,
        passkeys: true,
        redirectUri: redirectUri(interaction),
      });
    }
    if (await options.passkeyHooks.afterPassword(ctx, interaction, result.user.id, fields)) return;
    return finish(ctx, { login: { accountId: result.user.id, amr: ['pwd'], acr, remember: true } }, false);
  });

  router.post('/interaction/:uid/confirm', form, guard, async (ctx) => {
    const interaction = await details(ctx);
    if (interaction?.prompt.name !== 'consent') return expired(ctx);
    const decision = (ctx.state.form as Record<string, string>).decision;
    const clientId = interaction.params.client_id;
    if (decision === 'allow') {
      const consent = await grantConsent(current(), interaction);
      options.signin.consent(ctx, true, clientId, interaction.session?.accountId);
      return finish(ctx, { consent }, true);
    }
    options.signin.consent(ctx, false, clientId, interaction.session?.accountId);
    return finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
  });

  // a link, so it works without a form; it only ends this browser's own interaction
  router.get('/interaction/:uid/abort', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return expired(ctx);
    return finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
  });

  return router;
}

interface ConsentDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

const stringOrUndefined = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** oidc-provider's SessionNotFound: no interaction cookie, or the interaction expired. */
function isSessionNotFound(err: unknown): boolean {
  return err instanceof Error && err.name === 'SessionNotFound';
}
