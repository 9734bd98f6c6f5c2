import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import type { AccessTokenService, VerifyResult } from '../services/access-tokens.ts';
import type { Subject } from '../services/roles.ts';
import type { SecurityEventService } from '../services/security-events.ts';
import {
  ACCESS_TOKEN_TYPE,
  acceptsAudience,
  CLIENT_SUBJECT_CLAIM,
  exchangedLifetime,
  nextActor,
  subjectIsClient,
  TOKEN_EXCHANGE_GRANT,
  tokenExchangeSettingsOf,
} from '../services/token-exchange.ts';

type Next = () => Promise<unknown>;

/** Client metadata, set by an admin only: `{ fromAudiences: string[], impersonation?: boolean }`. */
export const TOKEN_EXCHANGE = 'tokenExchange';

/** The metadata validator's check of `tokenExchange`; a problem, or undefined. */
export function tokenExchangeProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const v = value as { fromAudiences?: unknown; impersonation?: unknown };
  const keys = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.keys(value) : undefined;
  if (
    !keys?.every((k) => k === 'fromAudiences' || k === 'impersonation') ||
    !Array.isArray(v.fromAudiences) ||
    v.fromAudiences.length > 100 ||
    !v.fromAudiences.every((a) => typeof a === 'string' && a.length <= 2048 && URL.parse(a) !== null) ||
    (v.impersonation !== undefined && typeof v.impersonation !== 'boolean')
  ) {
    return `${TOKEN_EXCHANGE} must be { fromAudiences: at most 100 absolute URIs, impersonation?: boolean }`;
  }
  return undefined;
}

/** The parameters of the grant (RFC 8693 §2.1); oidc-provider drops every other one. */
const PARAMETERS = [
  'subject_token',
  'subject_token_type',
  'requested_token_type',
  'actor_token',
  'actor_token_type',
  'scope',
  'resource',
  'audience',
];

const WHY: Record<Exclude<VerifyResult, { ok: true }>['reason'], string> = {
  malformed: 'is not a JWT access token of this server',
  invalid: 'is not a valid access token of this server',
  expired: 'has expired',
  revoked: 'has been revoked',
  wrong_audience: 'is not for this audience',
  ended: 'no longer stands (its client or user was removed, disabled or signed out)',
};

export interface TokenExchangeDeps {
  accessTokens: AccessTokenService;
  events: Pick<SecurityEventService, 'record'>;
  /** the API as the client may receive it for the subject (resource-indicators.ts) */
  resourceFor(indicator: string, clientId: string, subject: Subject): Promise<ResourceServer>;
}

type Params = Record<string, string | string[] | undefined>;

const single = (params: Params, name: string): string | undefined => {
  const value = params[name];
  if (Array.isArray(value)) throw new errors.InvalidTarget(`only one ${name} may be named`);
  return value === undefined || value === '' ? undefined : value;
};

/**
 * RFC 8693 token exchange for call chains: a service holding a user's access token for itself
 * exchanges it for a token for another API, with the user as `sub` and itself in `act`.
 * `claimsOf` gives `extraTokenClaims` the `act` (and subject kind) of the tokens issued here.
 */
export function registerTokenExchange(provider: Provider, deps: TokenExchangeDeps) {
  const { accessTokens, events } = deps;
  const extras = new WeakMap<object, Record<string, unknown>>();

  provider.registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    async (ctx) => {
      const client = ctx.oidc.client;
      if (!client) throw new errors.InvalidClient('client authentication is required');
      const params = ctx.oidc.params as Params;
      const settings = tokenExchangeSettingsOf(client.metadata());
      if (!settings || settings.fromAudiences.length === 0) {
        throw new errors.UnauthorizedClient(
          'this client may exchange no tokens (its tokenExchange.fromAudiences is empty)',
        );
      }
      const subjectToken = single(params, 'subject_token');
      if (subjectToken === undefined) throw new errors.InvalidRequest("missing required parameter 'subject_token'");
      if (single(params, 'subject_token_type') !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
      }
      const requested = single(params, 'requested_token_type');
      if (requested !== undefined && requested !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest(`requested_token_type: only ${ACCESS_TOKEN_TYPE} is issued`);
      }
      // the actor is the authenticated client itself: a second token naming another actor would
      // let one service claim to act for another
      if (params.actor_token !== undefined || params.actor_token_type !== undefined) {
        throw new errors.InvalidRequest('actor_token is not supported: the authenticated client is the actor');
      }
      // the new token is a plain bearer token: a client registered for bound tokens gets none
      const meta = client.metadata();
      if (meta.dpop_bound_access_tokens === true || meta.tls_client_certificate_bound_access_tokens === true) {
        throw new errors.UnauthorizedClient('token exchange issues bearer tokens; this client requires bound tokens');
      }
      const resource = single(params, 'resource');
      const audience = single(params, 'audience');
      if (resource !== undefined && audience !== undefined && resource !== audience) {
        throw new errors.InvalidTarget('resource and audience name different APIs');
      }
      const indicator = resource ?? audience;
      if (indicator === undefined) throw new errors.InvalidTarget('name the API with resource');

      const verified = await accessTokens.verify(subjectToken);
      if (!verified.ok) throw new errors.InvalidRequest(`subject_token ${WHY[verified.reason]}`);
      const { claims } = verified;
      if (!acceptsAudience(settings, claims.aud)) {
        throw new errors.UnauthorizedClient("this client may not exchange tokens of the subject_token's audience");
      }
      const subject: Subject = subjectIsClient(claims)
        ? { kind: 'client', id: claims.sub }
        : { kind: 'user', id: claims.sub };
      const act = nextActor(claims, client.clientId, settings.impersonation);
      if (act === 'too_long') throw new errors.InvalidRequest('subject_token has passed through too many services');

      const server = await deps.resourceFor(indicator, client.clientId, subject);
      const allowed = new Set((server.scope ?? '').split(' ').filter(Boolean));
      const asked = [...ctx.oidc.requestParamScopes];
      // RFC 6749 §3.3: what may be granted of what was asked; with no scope asked, all that may be
      const scopes = asked.length > 0 ? asked.filter((s) => allowed.has(s)) : [...allowed];
      if (scopes.length === 0) {
        throw new errors.InvalidScope(
          asked.length > 0
            ? 'none of the requested scopes may be granted to this client for this subject'
            : 'no scope of the requested resource may be granted to this client for this subject',
          asked.join(' '),
        );
      }
      const lifetime = exchangedLifetime(server.accessTokenTTL ?? 300, claims.exp);
      if (lifetime <= 0) throw new errors.InvalidRequest(`subject_token ${WHY.expired}`);

      const token = new provider.AccessToken({
        accountId: claims.sub,
        client,
        gty: TOKEN_EXCHANGE_GRANT,
        scope: scopes.join(' '),
        expiresIn: lifetime,
      } as unknown as ConstructorParameters<typeof provider.AccessToken>[0]);
      // what oidc-provider's own ResourceServer instance has, over the hook's answer
      token.resourceServer = { ...server, scopes: allowed, identifier: () => indicator };
      extras.set(token, {
        ...(act ? { act } : {}),
        ...(subject.kind === 'client' ? { [CLIENT_SUBJECT_CLAIM]: 'client' } : {}),
      });
      ctx.oidc.entity('AccessToken', token);
      const value = await token.save();

      events.record({
        type: 'token.exchanged',
        ip: ctx.ip,
        userAgent: ctx.get('user-agent') || undefined,
        clientId: client.clientId,
        actor: client.clientId,
        subject: claims.sub,
        // who acted and for what; never a token
        details: {
          audience: indicator,
          scope: token.scope,
          from_audience: Array.isArray(claims.aud) ? claims.aud.join(' ') : claims.aud,
          from_client: claims.client_id,
          actors: actorChain(act),
          impersonation: settings.impersonation,
        },
      });
      ctx.body = {
        access_token: value,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: lifetime,
        scope: token.scope,
      };
    },
    PARAMETERS,
    // several values are refused by the handler with invalid_target (RFC 8693 §2.2.2), not as a duplicate
    ['resource', 'audience'],
  );

  return {
    /** what `extraTokenClaims` adds to a token issued here: `act`, and whether `sub` is a client */
    claimsOf: (token: object): Record<string, unknown> | undefined => extras.get(token),
    /**
     * Refused exchanges as security events (`token.exchange_refused`, the error code and its
     * description, never a token), and RFC 6749 §5.2's `unauthorized_client` for a client without
     * the grant (oidc-provider answers that `invalid_request`).
     */
    async refusals(ctx: KoaContextWithOIDC, next: Next) {
      await next();
      if (ctx.oidc?.route !== 'token' || ctx.oidc.params?.grant_type !== TOKEN_EXCHANGE_GRANT) return;
      const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
      if (ctx.status < 400 || typeof body?.error !== 'string' || body.error === 'invalid_client') return;
      const client = ctx.oidc.client;
      if (body.error === 'invalid_request' && client && !client.grantTypeAllowed(TOKEN_EXCHANGE_GRANT)) {
        body.error = 'unauthorized_client';
        body.error_description = 'this client may not use token exchange (add it to its grant_types)';
      }
      events.record({
        type: 'token.exchange_refused',
        outcome: 'failure',
        ip: ctx.ip,
        userAgent: ctx.get('user-agent') || undefined,
        clientId: client?.clientId,
        actor: client?.clientId,
        details: {
          error: body.error,
          reason: typeof body.error_description === 'string' ? body.error_description : undefined,
        },
      });
    },
  };
}

/** The actors, outermost first ("B A": B acted for A, which acted for the user). */
function actorChain(act: { sub: string; act?: unknown } | undefined): string | undefined {
  const names: string[] = [];
  for (let a = act; a; a = a.act as typeof act) names.push(a.sub);
  return names.length > 0 ? names.join(' ') : undefined;
}
