import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { children, type RouteLabels } from '../services/metrics.ts';
import type { Protection, TripContext } from '../services/protection.ts';
import type { Verdict } from '../services/rate-limits.ts';
import { TOKEN_EXCHANGE_GRANT } from '../services/token-exchange.ts';

type Next = () => Promise<unknown>;
type Guarded = 'token' | 'introspection' | 'revocation' | 'pushed_authorization_request';

/**
 * Rate limits, metrics and security events around oidc-provider's endpoints
 * (per authenticated client on token and introspection; per address for failed
 * client authentication). Applied to every provider the composition root builds.
 *
 * oidc-provider authenticates the client inside its route, with no hook before the grant runs:
 * - a client that authenticates with HTTP Basic (the usual for services) is counted up front,
 *   under the name its header gives, and refused once over its limit; the count is taken back
 *   when the route finds the secret wrong (nothing stays counted for a name that only claims it);
 * - a client that authenticates in the body is counted after the route, and once over, its
 *   introspection and client-credentials answers (which change nothing stored) are replaced by
 *   429; a code or refresh-token exchange already done is delivered rather than lost.
 * Every endpoint that authenticates a client counts its failures against the address and is
 * closed to it once over: pushed authorization requests (RFC 9126 §2.1) authenticate the
 * client as the token endpoint does, and would otherwise answer a secret guess after the
 * token endpoint has stopped answering.
 */
export function observeProvider(provider: Provider, protection: Protection, routeLabels: RouteLabels): Provider {
  const { limits, gates, events, metrics, surge } = protection;
  const issued = children((key) => {
    const [grantType = '', clientId = ''] = key.split('\n');
    return metrics.tokensIssued.labels({ grant_type: grantType, client_id: clientId });
  });
  const guarded = new Map<string, Guarded>([
    [provider.pathFor('token'), 'token'],
    [provider.pathFor('introspection'), 'introspection'],
    [provider.pathFor('revocation'), 'revocation'],
    [provider.pathFor('pushed_authorization_request'), 'pushed_authorization_request'],
  ]);

  provider.use(async function protect(ctx: KoaContextWithOIDC, next: Next) {
    const route = ctx.method === 'POST' ? guarded.get(ctx.path) : undefined;
    if (!route) {
      await next();
      if (ctx.oidc?.route) routeLabels.set(ctx.req, ctx.oidc.route);
      return;
    }
    const who: TripContext = { ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined };
    // the per-client limits: tokens, and introspection (with revocation); PAR has only the failure limit
    const limiter =
      route === 'token' ? limits.token : route === 'pushed_authorization_request' ? undefined : limits.introspection;
    const gate =
      route === 'token' ? gates.token : route === 'pushed_authorization_request' ? undefined : gates.introspection;
    const claimed = basicClientId(ctx.get('authorization'));
    if (claimed !== undefined && gate) {
      // the address's failure limit checked and the claimed client counted in one call, before
      // the route and atomically (in memory or in Redis): requests in flight together each get
      // their own count, so no more than the limit pass
      const { refusedBy, verdict } = await gate.pass(ctx.ip, claimed);
      if (refusedBy === 'guard') return refuse(ctx, 'client_auth_failures', verdict, who, ctx.ip);
      if (refusedBy === 'counter') {
        return refuse(
          ctx,
          route === 'token' ? 'token' : 'introspection',
          verdict,
          { ...who, clientId: claimed },
          claimed,
        );
      }
    } else {
      const failures = await limits.client_auth_failures.peek(ctx.ip);
      if (!failures.allowed) return refuse(ctx, 'client_auth_failures', failures, who, ctx.ip);
    }

    await next();
    routeLabels.set(ctx.req, route);

    const body = ctx.body as { error?: unknown; scope?: unknown } | undefined;
    const client = ctx.oidc?.client;
    if (body?.error === 'invalid_client') {
      // a wrong secret sent in another client's name does not use up that client's allowance
      if (claimed !== undefined && limiter) await limiter.refund(claimed);
      const clientId = client?.clientId ?? claimed;
      // why a federated assertion was refused (federated-client-auth.ts); never the assertion
      const why = ctx.state.clientAuthFailure as Record<string, unknown> | undefined;
      await limits.client_auth_failures.hit(ctx.ip);
      surge.observe('failures', 'ip', ctx.ip);
      if (clientId) surge.observe('failures', 'client', clientId);
      events.record({
        type: 'client.auth_failed',
        outcome: 'failure',
        ...who,
        clientId,
        subject: clientId,
        details: { endpoint: route, ...why },
      });
      return;
    }
    if (!client || !limiter) return;

    const grantType = typeof ctx.oidc.params?.grant_type === 'string' ? ctx.oidc.params.grant_type : undefined;
    // a client authenticated in the body is known only now: counted now, atomically, and its
    // answers that change nothing stored are replaced once over the limit
    const verdict = claimed === undefined ? await limiter.hit(client.clientId) : undefined;
    if (verdict && !verdict.allowed && (route === 'introspection' || grantType === 'client_credentials')) {
      return refuse(
        ctx,
        route === 'token' ? 'token' : 'introspection',
        verdict,
        { ...who, clientId: client.clientId },
        client.clientId,
      );
    }

    if (route === 'token') {
      surge.observe('tokens', 'client', client.clientId);
      surge.observe('tokens', 'ip', ctx.ip);
      if (ctx.status !== 200 || !grantType) return;
      issued(`${grantType}\n${client.clientId}`).inc();
      // a token exchange records its own event, naming who acted (token-exchange.ts)
      if (grantType === TOKEN_EXCHANGE_GRANT) return;
      const account = ctx.oidc.entities.Account?.accountId;
      events.record({
        type: grantType === 'refresh_token' ? 'token.refreshed' : 'token.issued',
        ...who,
        clientId: client.clientId,
        actor: account ?? client.clientId,
        subject: account ?? client.clientId,
        // the granted scope and the kind of grant; never a token
        details: { grant_type: grantType, scope: typeof body?.scope === 'string' ? body.scope : undefined },
      });
    } else if (route === 'revocation' && ctx.status === 200) {
      const hint = ctx.oidc.params?.token_type_hint;
      events.record({
        type: 'token.revoked',
        ...who,
        clientId: client.clientId,
        actor: client.clientId,
        details: { token_type_hint: typeof hint === 'string' ? hint : undefined },
      });
    }
  });

  // RFC 9700 §4.14.2 (refresh token reuse) and RFC 6749 §4.1.2 (code replay): oidc-provider
  // revokes the grant on the token route only for those two
  provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
    if (ctx.oidc?.route !== 'token') return;
    const grantType = ctx.oidc.params?.grant_type;
    events.record({
      type: 'token.reuse_detected',
      outcome: 'failure',
      ip: ctx.ip,
      userAgent: ctx.get('user-agent') || undefined,
      clientId: ctx.oidc.client?.clientId,
      subject: ctx.oidc.entities.Account?.accountId,
      details: { grant_type: typeof grantType === 'string' ? grantType : undefined, grant_id: grantId },
    });
  });

  function refuse(
    ctx: KoaContextWithOIDC,
    limit: Parameters<Protection['refused']>[0],
    verdict: Verdict,
    who: TripContext,
    key: string,
  ) {
    protection.refused(limit, verdict, who, key);
    routeLabels.set(ctx.req, guarded.get(ctx.path) ?? 'unknown');
    ctx.status = 429;
    ctx.set('Retry-After', String(verdict.retryAfter));
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = {
      error: 'too_many_requests',
      error_description: `too many requests; retry after ${verdict.retryAfter} seconds`,
    };
  }

  return provider;
}

/** The client id in an HTTP Basic header (RFC 6749 §2.3.1: form-urlencoded, then base64). */
export function basicClientId(header: string): string | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]{1,4096})$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  const name = decoded.slice(0, colon);
  // the usual generated client id needs no decoding
  if (!name.includes('%') && !name.includes('+')) return name;
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}
