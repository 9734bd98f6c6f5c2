import { randomBytes } from 'node:crypto';
import { ACCOUNT_CLIENT_ID } from './authentication-policy.ts';
import type { ClientService } from './clients.ts';

/** The admin console at /console signs its users in as this client. */
export const CONSOLE_CLIENT_ID = 'idp-console';

/** The ids of the built-in clients: they are configuration, not for the admin API to change. */
export const builtInClientIds = (admin: { id: string } | undefined): string[] => [
  ACCOUNT_CLIENT_ID,
  CONSOLE_CLIENT_ID,
  ...(admin ? [admin.id] : []),
];

/**
 * The clients every deployment has, written at each start so configuration changes apply:
 * the operator's admin client (ADMIN_CLIENT_ID/ADMIN_CLIENT_SECRET), allowed the admin API, and
 * the client the /account page signs people in as.
 */
export async function ensureBuiltInClients(
  clients: ClientService,
  options: {
    issuer: string;
    admin: { id: string; secret: string } | undefined;
    adminAudience: string;
    adminScopes: readonly string[];
    /** derived from SECRETS_KEY, so every instance redeems the console's codes */
    consoleSecret: string;
  },
): Promise<void> {
  if (options.admin) {
    await clients.bootstrap(options.admin.id, options.admin.secret, {
      metadata: {
        client_name: 'Admin API client',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      allowedResources: { [options.adminAudience]: [...options.adminScopes] },
      firstParty: true,
    });
  }
  // the account page's codes are never redeemed (src/http/account/router.ts): its secret is
  // random and thrown away
  await clients.bootstrap(ACCOUNT_CLIENT_ID, randomBytes(32).toString('base64url'), {
    metadata: {
      client_name: 'Your account',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [`${options.issuer}/account/callback`],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid',
    },
    allowedResources: {},
    firstParty: true,
  });
  // the console asks for every admin API scope; a user's token carries only those their roles grant
  await clients.bootstrap(CONSOLE_CLIENT_ID, options.consoleSecret, {
    metadata: {
      client_name: 'Admin console',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [`${options.issuer}/console/callback`],
      post_logout_redirect_uris: [`${options.issuer}/console/signed-out`],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid profile',
    },
    allowedResources: { [options.adminAudience]: [...options.adminScopes] },
    firstParty: true,
  });
}
