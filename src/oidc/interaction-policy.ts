import { interactionPolicy } from 'oidc-provider';
import { ACR, MFA_REASON, type MfaDecision } from '../services/authentication-policy.ts';

/** The login prompt's reason when the session's account was disabled or deleted. */
const ACCOUNT_GONE_REASON = 'account_unavailable';

/**
 * oidc-provider's default prompts, with one more login check: a session whose `acr` is not
 * `mfa` is asked to sign in again (the second-factor step) when the client, the global policy,
 * the request or the user demands it. Without it an existing password session would satisfy an
 * MFA-requiring client.
 */
export function createInteractionPolicy(needsMfa: MfaDecision) {
  const policy = interactionPolicy.base();
  const login = policy.get('login');
  // A session whose account is gone (disabled or deleted: findAccount answers nothing) has no
  // grant to check consent against; without this check the consent prompt would fail on the
  // missing grant. Ask for a sign-in instead.
  login?.checks.add(
    new interactionPolicy.Check(ACCOUNT_GONE_REASON, 'the signed-in account is no longer available', (ctx) =>
      ctx.oidc.session?.accountId !== undefined && ctx.oidc.account === undefined
        ? interactionPolicy.Check.REQUEST_PROMPT
        : interactionPolicy.Check.NO_NEED_TO_PROMPT,
    ),
  );
  login?.checks.add(
    new interactionPolicy.Check(MFA_REASON, 'a second factor is required', async (ctx) => {
      const { session, result } = ctx.oidc;
      const accountId = session?.accountId;
      if (accountId === undefined || ctx.oidc.account === undefined) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const acr = (result?.login as { acr?: string } | undefined)?.acr ?? session?.acr;
      if (acr === ACR.mfa) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const client = ctx.oidc.client;
      const request = {
        clientId: client?.clientId,
        clientRequiresMfa: client?.metadata().require_mfa === true,
        params: (ctx.oidc.params ?? {}) as Record<string, unknown>,
      };
      return (await needsMfa(request, accountId))
        ? interactionPolicy.Check.REQUEST_PROMPT
        : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}
