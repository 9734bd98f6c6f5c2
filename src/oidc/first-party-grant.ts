import type { Configuration, Grant, KoaContextWithOIDC } from 'oidc-provider';
import type { SecurityEventService } from '../services/security-events.ts';

/** oidc-provider's standard claims its consent prompt never asks about (its `op_claims_missing` check). */
const ALWAYS_ALLOWED_CLAIMS = new Set(['sub', 'sid', 'auth_time', 'acr', 'amr', 'iss']);

/**
 * What oidc-provider's consent prompt would report missing from `grant` for this request (the
 * `op_scopes_missing`, `op_claims_missing` and `rs_scopes_missing` checks of its consent prompt),
 * added to it. @returns whether anything was added
 */
function addWhatTheRequestAsks(ctx: KoaContextWithOIDC, grant: Grant): boolean {
  const { oidc } = ctx;
  let added = false;
  const oidcScopes = new Set(grant.getOIDCScopeEncountered().split(' '));
  const missingScopes = [...oidc.requestParamOIDCScopes].filter((s) => !oidcScopes.has(s));
  if (missingScopes.length > 0) {
    grant.addOIDCScope(missingScopes.join(' '));
    added = true;
  }
  const claims = new Set(grant.getOIDCClaimsEncountered());
  const missingClaims = [...oidc.requestParamClaims].filter((c) => !claims.has(c) && !ALWAYS_ALLOWED_CLAIMS.has(c));
  if (missingClaims.length > 0) {
    grant.addOIDCClaims(missingClaims);
    added = true;
  }
  for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
    const granted = new Set(grant.getResourceScopeEncountered(indicator).split(' '));
    const available = (server as { scopes: Set<string> }).scopes;
    const missing = [...oidc.requestParamScopes].filter((s) => available.has(s) && !granted.has(s));
    if (missing.length > 0) {
      grant.addResourceScope(indicator, missing.join(' '));
      added = true;
    }
  }
  return added;
}

/**
 * oidc-provider's `loadExistingGrant`: its default (the grant of the interaction's consent, or the
 * one the session keeps for the client), and for a first-party client (`first_party`, set by an
 * admin) that a person has just signed in to, the consent the consent page would have given
 * without asking, given here, at the resume of the login. The consent prompt then finds nothing
 * missing, and the code is issued in the same request: no second interaction (its page, its
 * record written, read and deleted, and a second resume rewriting the session under a new id).
 * Only right after a login of this interaction (`result.login`): a session that signed in
 * earlier still goes through the consent prompt, where the sign-in pages grant it (the `grant`
 * step) as before, and so does a request that asks for the consent prompt (`prompt=consent`).
 * Another reason for it (a native client, RAR) still shows it; the grant made here never issues
 * anything by itself.
 */
export function createLoadExistingGrant(deps: {
  events: Pick<SecurityEventService, 'record'>;
}): NonNullable<Configuration['loadExistingGrant']> {
  return async (ctx) => {
    const { oidc } = ctx;
    const client = oidc.client;
    const grantId = oidc.result?.consent?.grantId || (client && oidc.session?.grantIdFor(client.clientId));
    const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    const accountId = oidc.account?.accountId;
    const loggedInNow = oidc.result?.login?.accountId;
    if (!client) return existing;
    if (client.metadata().first_party !== true || accountId === undefined || loggedInNow !== accountId) return existing;
    // `prompt=consent` asks for the consent prompt itself: it shows, and the sign-in pages grant it there
    if (oidc.prompts.has('consent')) return existing;
    // a grant of another account or client is oidc-provider's to refuse (it throws on a mismatch)
    if (existing && (existing.accountId !== accountId || existing.clientId !== client.clientId)) return existing;
    const grant = existing ?? new oidc.provider.Grant({ accountId, clientId: client.clientId });
    // nothing new asked for: the grant stays as stored, unwritten
    if (!addWhatTheRequestAsks(ctx, grant)) return existing;
    await grant.save();
    deps.events.record({
      type: 'consent.granted',
      ip: ctx.ip,
      userAgent: ctx.get('user-agent') || undefined,
      clientId: client.clientId,
      actor: accountId,
      subject: accountId,
      details: { first_party: true },
    });
    return grant;
  };
}
