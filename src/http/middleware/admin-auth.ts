import type { Context, Next } from 'koa';
import type { ReplayCache } from '../../../packages/resource-server/src/dpop.ts';
import { senderConstraint, TokenCheckError } from '../../../packages/resource-server/src/token-checker.ts';
import { AppError } from '../../errors.ts';
import type { AccessTokenClaims, AccessTokenService } from '../../services/access-tokens.ts';
import { type AdminPower, type AdminScope, covers, powerOf } from '../../services/admin-delegation.ts';
import type { AdminChangeEvent } from '../../services/security-events.ts';

const REASONS = {
  malformed: 'the access token is malformed',
  invalid: 'the access token is invalid',
  expired: 'the access token expired',
  revoked: 'the access token was revoked',
  wrong_audience: 'the access token is not for this API',
  ended: 'the access token ended with its client or user',
} as const;

/**
 * The admin API is a resource server of this issuer (audience `<ISSUER>/admin`): it checks our
 * own JWT access tokens locally, with the keys in memory, their revocation, and that their
 * client (and user) still stand: a deleted admin client's token stops at once, not when it expires.
 */
export function adminAuth(
  tokens: AccessTokenService,
  audience: string,
  options: { clientCertificateHeader?: string | undefined; replay: ReplayCache; issuer: string },
) {
  // RFC 9449 §11.1: a DPoP proof is good once, on every instance (a shared replay cache)
  const { replay } = options;
  return async function authenticate(ctx: Context, next: Next): Promise<void> {
    const header = ctx.get('authorization');
    const match = /^(Bearer|DPoP) ([\w.~+/-]+=*)$/i.exec(header);
    if (!match?.[1] || !match[2]) throw new AppError('invalid_token', 401, 'a Bearer or DPoP access token is required');
    const result = await tokens.verify(match[2], { audience });
    if (!result.ok) throw new AppError('invalid_token', 401, REASONS[result.reason]);
    // RFC 9449 §7, RFC 8705 §3: a sender-constrained token works only with its key or certificate
    try {
      await senderConstraint(
        ctx.req,
        { token: match[2], scheme: match[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', cnf: result.claims.cnf },
        {
          replay,
          clientCertificateHeader: options.clientCertificateHeader,
          // RFC 9449 §4.3: the URL the client called, which is ours: the issuer's, never the Host header's
          requestUrl: () => `${options.issuer}${ctx.path}`,
        },
      );
    } catch (err) {
      if (err instanceof TokenCheckError) throw new AppError('invalid_token', 401, err.message);
      throw err;
    }
    ctx.state.token = result.claims;
    await next();
  };
}

function hasScope(claims: AccessTokenClaims, needed: AdminScope): boolean {
  return covers(powerOf(claims.scope), needed);
}

/** What the caller holds on the admin API: its token's scopes (docs/decisions/0010). */
export function callerPower(ctx: Context): AdminPower {
  return powerOf((ctx.state.token as AccessTokenClaims | undefined)?.scope);
}

/** The event type the matched admin route declared, for the audit middleware (admin/audit.ts). */
export function declaredEvent(ctx: Context): AdminChangeEvent | undefined {
  return (ctx.state as { adminEvent?: AdminChangeEvent }).adminEvent;
}

/**
 * Refuses a token without `needed` (403). A route that changes something declares here the
 * event type its change is recorded under, also when this check refuses it.
 */
export function requireScope(needed: AdminScope, options: { event?: AdminChangeEvent } = {}) {
  const scoped = async (ctx: Context, next: Next): Promise<void> => {
    if (options.event) ctx.state.adminEvent = options.event;
    const claims = ctx.state.token as AccessTokenClaims | undefined;
    if (!claims || !hasScope(claims, needed)) {
      ctx.set('WWW-Authenticate', `Bearer error="insufficient_scope", scope="${needed}"`);
      throw new AppError('insufficient_scope', 403, `this needs the scope ${needed}`);
    }
    await next();
  };
  // read by the OpenAPI generator (and the test that every change declares its event)
  return Object.assign(scoped, { requiredScope: needed, auditEvent: options.event });
}
