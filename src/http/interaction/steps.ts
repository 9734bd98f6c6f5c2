import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import type { Logger } from '../../logger.ts';
import type { AccountService } from '../../services/accounts.ts';
import type { Login, Step } from '../../services/signin-steps.ts';
import type { Csrf } from '../middleware/csrf.ts';
import type { Pages } from '../pages.ts';
import type { PasskeyPages } from '../passkey-pages.ts';
import { grantConsent } from './grant.ts';
import { isSessionNotFound, type LoadedInteraction } from './load.ts';

export interface StepPagesDeps {
  provider: () => Provider;
  pages: Pages;
  passkeyPages: PasskeyPages;
  csrf: Csrf;
  log: Logger;
  /** the language the person signed in with is the one their mails are written in */
  accounts: Pick<AccountService, 'rememberLocale'>;
}

interface ConsentDetails {
  missingOIDCScope?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

const stringOrUndefined = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** How each step of the sign-in flow is answered: a page, or the end of the interaction. */
export function createStepPages(deps: StepPagesDeps) {
  const { pages, passkeyPages, csrf } = deps;

  const expired = (ctx: Context) =>
    pages.error(ctx, {
      status: 400,
      text: 'error.expired',
      code: 'session_not_found',
    });

  /**
   * Ends the interaction: the URL to send the browser on to, or undefined when it expired meanwhile.
   * What oidc-provider's `interactionResult` does, on the interaction this request already loaded
   * and checked (its cookie, uid, prompt and session): that method would read it again.
   */
  const finish = async (i: LoadedInteraction, result: InteractionResults, merge = false) => {
    const interaction = i.details;
    const ttl = (interaction.exp ?? 0) - Math.floor(Date.now() / 1000);
    if (ttl <= 0) return undefined;
    interaction.result = merge && !('error' in result) ? { ...interaction.lastSubmission, ...result } : result;
    try {
      // the adapter writes it only if it still exists, and ends its passkey step (src/oidc/adapter.ts)
      await interaction.save(ttl);
    } catch (err) {
      if (isSessionNotFound(err)) return undefined;
      throw err;
    }
    return interaction.returnTo;
  };
  const loginResult = (login: Login): InteractionResults => ({ login: { ...login, remember: true } });

  /** Every POST answers 303: after a form POST only 303 guarantees a GET follows (RFC 9110 §15.4.4; RFC 9700 §4.11). */
  const seeOther = (ctx: Context, url: string | undefined) => {
    if (url === undefined) return expired(ctx);
    ctx.status = 303;
    ctx.redirect(url);
  };

  const login = (ctx: Context, i: LoadedInteraction, extra: { username?: string | undefined; error?: string } = {}) =>
    pages.login(ctx, {
      uid: i.facts.uid,
      csrf: csrf.token(i.facts.uid),
      clientName: i.clientName,
      passkeys: true,
      redirectUri: i.redirectUri,
      ...extra,
    });

  /**
   * Answers `step`; after a POST (`posted`) a page to show is a 303 to the interaction's page instead.
   * `stored.locale`: the account's language as this request already read it, when it did.
   */
  const show = async (
    ctx: Context,
    i: LoadedInteraction,
    step: Step,
    posted = false,
    stored: { locale?: string | null } = {},
  ): Promise<void> => {
    switch (step.name) {
      case 'login': {
        const hint = i.details.params.login_hint;
        return login(ctx, i, { username: typeof hint === 'string' ? hint.slice(0, 254) : undefined });
      }
      case 'passkey':
        if (posted) return seeOther(ctx, `/interaction/${i.facts.uid}`);
        return passkeyPages.step(ctx, {
          uid: i.facts.uid,
          csrf: csrf.token(i.facts.uid),
          mode: step.mode,
          methods: step.methods,
          clientName: i.clientName,
          redirectUri: i.redirectUri,
        });
      case 'consent': {
        const missing = i.details.prompt.details as ConsentDetails;
        const meta = i.client?.metadata();
        return pages.consent(ctx, {
          uid: i.facts.uid,
          csrf: csrf.token(i.facts.uid),
          clientName: i.clientName ?? i.facts.clientId ?? '?',
          accountName: step.accountName,
          scopes: missing.missingOIDCScope ?? [],
          resourceScopes: missing.missingResourceScopes,
          links: {
            clientUri: stringOrUndefined(meta?.client_uri),
            policyUri: stringOrUndefined(meta?.policy_uri),
            tosUri: stringOrUndefined(meta?.tos_uri),
          },
          redirectUri: i.redirectUri,
        });
      }
      case 'grant':
        return seeOther(ctx, await finish(i, { consent: await grantConsent(deps.provider(), i.details) }, true));
      case 'finish': {
        const locale = pages.localeOf(ctx);
        if (stored.locale !== locale) await deps.accounts.rememberLocale(step.login.accountId, locale);
        return seeOther(ctx, await finish(i, loginResult(step.login)));
      }
      case 'refuse':
        return seeOther(ctx, await finish(i, { error: step.error, error_description: step.description }));
      case 'unsupported':
        deps.log.warn({ prompt: step.prompt }, 'interaction prompt this server has no page for');
        return pages.error(ctx, {
          status: 400,
          text: 'error.unsupported_prompt',
          code: 'unsupported_prompt',
        });
    }
  };

  return { expired, finish, loginResult, login, show };
}

export type StepPages = ReturnType<typeof createStepPages>;
