import type { PublicUser } from './accounts.ts';
import type { KeyFacts, Rotation } from './keys.ts';
import type { ClientRecord } from './ports/clients.ts';
import type { ResourceRecord } from './ports/resources.ts';
import type { RoleRecord } from './ports/roles.ts';

/**
 * How the admin API shows each record (and so what the CLI's `--json` prints in both of its
 * modes): one definition, described for OpenAPI by the schemas in `schemas/responses.ts` and
 * `schemas/clients.ts`, which the tests check every answer against.
 */

/** A client: its metadata, never its secret, except `secret` when one was just made. */
export const clientView = (client: ClientRecord, roles: string[], secret?: string) => ({
  client_id: client.id,
  ...client.metadata,
  allowedResources: client.allowedResources,
  first_party: client.firstParty,
  roles,
  created_at: client.createdAt.toISOString(),
  updated_at: client.updatedAt.toISOString(),
  ...(secret === undefined ? {} : { client_secret: secret }),
});

/** A user: never the password hash, only whether there is one. */
export const userView = (user: PublicUser, roles: string[]) => ({
  id: user.id,
  username: user.username,
  email: user.email,
  // the same names the request bodies take, so what is read can be sent back
  emailVerified: user.emailVerified,
  name: user.name,
  givenName: user.givenName,
  familyName: user.familyName,
  status: user.status,
  has_password: user.hasPassword,
  created_at: user.createdAt.toISOString(),
  updated_at: user.updatedAt.toISOString(),
  last_sign_in_at: user.lastSignInAt?.toISOString() ?? null,
  roles,
});

export const resourceView = (r: ResourceRecord) => ({
  id: r.id,
  identifier: r.identifier,
  name: r.name,
  scopes: r.scopes,
  accessTokenTtl: r.accessTokenTtl,
  rolesClaim: r.rolesClaim,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

export const roleView = (role: RoleRecord) => ({
  id: role.id,
  name: role.name,
  description: role.description,
  permissions: role.permissions,
  created_at: role.createdAt.toISOString(),
  updated_at: role.updatedAt.toISOString(),
});

/** A signing key as the admin API and the CLI show it. */
export const keyView = (k: KeyFacts) => ({
  kid: k.kid,
  alg: k.alg,
  state: k.state,
  current: k.state === 'active',
  created_at: k.createdAt.toISOString(),
  activates_at: k.activatesAt.toISOString(),
  retired_at: k.retiredAt?.toISOString() ?? null,
  expires_at: k.expiresAt?.toISOString() ?? null,
});

export const rotationView = (r: Rotation) => ({
  rotated: r.rotated,
  activates_at: r.activatesAt.toISOString(),
  withdrawn: r.withdrawn,
});
