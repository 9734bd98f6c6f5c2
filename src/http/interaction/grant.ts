import type Provider from 'oidc-provider';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

interface Missing {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

/**
 * Records the End-User's consent: extends the existing grant (or creates one) with exactly
 * what the consent prompt reports missing, as oidc-provider's example does. A grant kept per
 * account and client is what makes consent remembered next time.
 * @returns the `consent` interaction result
 */
export async function grantConsent(provider: Provider, interaction: Interaction): Promise<{ grantId?: string }> {
  const accountId = interaction.session?.accountId;
  const clientId = interaction.params.client_id;
  if (accountId === undefined || typeof clientId !== 'string') {
    throw new Error('consent without a signed-in account or a client');
  }
  const existing = interaction.grantId === undefined ? undefined : await provider.Grant.find(interaction.grantId);
  const grant = existing ?? new provider.Grant({ accountId, clientId });

  const details = interaction.prompt.details as Missing;
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  // an existing grant keeps its id; a new one must be handed to the provider
  return interaction.grantId === undefined || existing === undefined ? { grantId } : {};
}
