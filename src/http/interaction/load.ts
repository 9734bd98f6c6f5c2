import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionFacts } from '../../services/signin-flow.ts';

export type Details = Awaited<ReturnType<Provider['interactionDetails']>>;
type Client = NonNullable<Awaited<ReturnType<Provider['Client']['find']>>>;

/** The interaction of this request, read once from oidc-provider. */
export interface LoadedInteraction {
  details: Details;
  /** what the sign-in flow decides on (src/services/signin-flow.ts) */
  facts: InteractionFacts;
  client: Client | undefined;
  clientName: string | undefined;
  /** the client's redirect_uri: where the redirects after a form lead (CSP form-action) */
  redirectUri: string | undefined;
}

/**
 * Loads this browser's interaction into `ctx.state.interaction`, checked against the uid in the
 * URL (a stale tab must not act on another one) and, when given, the prompt the route serves.
 * An expired or unknown interaction gets `expired` here, so no handler has to ask again.
 */
export function loadInteraction(
  provider: () => Provider,
  expired: (ctx: Context) => void,
  prompt?: 'login' | 'consent',
): Middleware {
  return async (ctx, next) => {
    let details: Details;
    try {
      details = await provider().interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      if (isSessionNotFound(err)) return expired(ctx);
      throw err;
    }
    const uid = (ctx as Context & { params?: Record<string, string> }).params?.uid;
    if (details.uid !== uid || (prompt !== undefined && details.prompt.name !== prompt)) return expired(ctx);
    const clientId = typeof details.params.client_id === 'string' ? details.params.client_id : undefined;
    const client = clientId === undefined ? undefined : await provider().Client.find(clientId);
    const accountId = details.session?.accountId;
    const amr = (details.session as { amr?: unknown } | undefined)?.amr;
    const loaded: LoadedInteraction = {
      details,
      facts: {
        uid: details.uid,
        prompt: details.prompt.name,
        reasons: details.prompt.reasons,
        session:
          accountId === undefined
            ? undefined
            : { accountId, amr: Array.isArray(amr) ? amr.filter((m) => typeof m === 'string') : undefined },
        clientId,
        clientRequiresMfa: client?.metadata().require_mfa === true,
        firstParty: client?.metadata().first_party === true,
        params: details.params as Record<string, unknown>,
      },
      client,
      clientName: client?.clientName ?? client?.clientId,
      redirectUri: typeof details.params.redirect_uri === 'string' ? details.params.redirect_uri : undefined,
    };
    ctx.state.interaction = loaded;
    await next();
  };
}

/** The interaction `loadInteraction` loaded for this request. */
export const interactionOf = (ctx: Context): LoadedInteraction => ctx.state.interaction as LoadedInteraction;

/** oidc-provider's SessionNotFound: no interaction cookie, or the interaction expired. */
export function isSessionNotFound(err: unknown): boolean {
  return err instanceof Error && err.name === 'SessionNotFound';
}
