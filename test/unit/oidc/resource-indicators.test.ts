import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { createResourceIndicators } from '../../../src/oidc/resource-indicators.ts';
import type { CacheBus } from '../../../src/services/cache.ts';
import type { CachedClient, ClientService } from '../../../src/services/clients.ts';
import type { RoleRecord, RoleRepository } from '../../../src/services/ports/roles.ts';
import type { ResourceServer, ResourceService } from '../../../src/services/resources.ts';
import { createRoleService } from '../../../src/services/roles.ts';

const API = 'https://orders.example';
const OTHER_API = 'https://billing.example';
const RESOURCES: readonly ResourceServer[] = [
  { identifier: API, scopes: ['orders:read', 'orders:write', 'orders:admin'], accessTokenTtl: 300, rolesClaim: false },
  { identifier: OTHER_API, scopes: ['billing:read'], accessTokenTtl: 300, rolesClaim: false },
];

/** roles by name, each a list of `resource scope` permissions */
const ROLES: Record<string, RoleRecord> = Object.fromEntries(
  Object.entries({
    reader: [[API, 'orders:read']],
    writer: [[API, 'orders:write']],
    admin: [[API, 'orders:admin']],
    biller: [[OTHER_API, 'billing:read']],
  }).map(([name, permissions]) => [
    name,
    {
      id: `role_${name}`,
      name,
      description: null,
      permissions: permissions.map(([resource = '', scope = '']) => ({ resource, scope })),
      createdAt: new Date(0),
      updatedAt: new Date(0),
    },
  ]),
);

interface Row {
  rule: string;
  /** the client's `allowedResources` */
  allowed?: Record<string, string[]>;
  clientRoles?: string[];
  /** a user's token (authorization code, refresh token) when set */
  userRoles?: string[];
  /** client credentials with these requested scopes */
  requested?: string[];
  resource?: string;
  /** the scope oidc-provider may grant, or the error class */
  expect: string | typeof errors.InvalidTarget | typeof errors.InvalidScope;
}

/**
 * The services the provider's resource-indicator hooks read, over fixed data: the roles go
 * through the real role service (its grants are the union of the subject's roles).
 */
function indicatorsFor(row: Row) {
  const client: CachedClient = { providerMetadata: {}, allowedResources: row.allowed ?? {}, createdAt: 0, secrets: [] };
  const clientNamed = (id: string) => (id === 'app' ? client : undefined);
  const resourceNamed = (identifier: string) => RESOURCES.find((r) => r.identifier === identifier);
  // `cached` answers as a warm cache does: the second request of a service takes the memo
  const clients = { resolve: async (id: string) => clientNamed(id), cached: clientNamed } as unknown as ClientService;
  const resources = {
    resolve: async (id: string) => resourceNamed(id),
    cached: resourceNamed,
  } as unknown as ResourceService;
  const rolesOf = (names: string[] | undefined) => (names ?? []).map((name) => ROLES[name] as RoleRecord);
  const repo = {
    ofClient: async (id: string) => (id === 'app' ? rolesOf(row.clientRoles) : []),
    ofUser: async (id: string) => (id === 'ann' ? rolesOf(row.userRoles) : []),
  } as unknown as RoleRepository;
  const bus: CacheBus = { publish: async () => {}, subscribe: () => {} };
  return createResourceIndicators({ clients, resources, roles: createRoleService({ repo, bus }) });
}

function contextFor(row: Row): KoaContextWithOIDC {
  const oidc =
    row.userRoles !== undefined
      ? { route: 'token', params: { grant_type: 'authorization_code' }, entities: { Account: { accountId: 'ann' } } }
      : {
          route: 'token',
          params: { grant_type: 'client_credentials' },
          entities: {},
          requestParamScopes: new Set(row.requested ?? []),
        };
  return { oidc } as unknown as KoaContextWithOIDC;
}

// RFC 8707 with our rules: a client gets the scopes its allowedResources or its roles allow; a
// user's token carries, of those, only what the user's roles allow; the API's own scopes bound both.
describe("a token's scopes: client allowedResources, roles and the request", () => {
  const rows: Row[] = [
    { rule: 'client allowedResources alone', allowed: { [API]: ['orders:read'] }, expect: 'orders:read' },
    { rule: 'client roles alone', clientRoles: ['reader', 'writer'], expect: 'orders:read orders:write' },
    {
      rule: 'client allowedResources and roles add up',
      allowed: { [API]: ['orders:read'] },
      clientRoles: ['writer'],
      expect: 'orders:read orders:write',
    },
    {
      rule: "a scope the API does not define is never granted, whatever the client's allowedResources say",
      allowed: { [API]: ['orders:read', 'orders:delete'] },
      expect: 'orders:read',
    },
    {
      rule: 'the order is the API’s, not the allowedResources’',
      allowed: { [API]: ['orders:admin', 'orders:read'] },
      expect: 'orders:read orders:admin',
    },
    {
      rule: 'a client allowed nothing on this API: invalid_target',
      allowed: { [OTHER_API]: ['billing:read'] },
      clientRoles: ['biller'],
      expect: errors.InvalidTarget,
    },
    {
      rule: 'an unknown API: invalid_target',
      allowed: { [API]: ['orders:read'] },
      resource: 'https://unknown.example',
      expect: errors.InvalidTarget,
    },
    {
      rule: 'client credentials asking only for scopes the client may not have: invalid_scope (RFC 6749 §5.2)',
      allowed: { [API]: ['orders:read'] },
      requested: ['orders:admin'],
      expect: errors.InvalidScope,
    },
    {
      rule: 'client credentials asking for some scopes it may have: the token, with what it may have',
      allowed: { [API]: ['orders:read'] },
      requested: ['orders:read', 'orders:admin'],
      expect: 'orders:read',
    },
    {
      rule: "a user's token: the client's scopes intersected with the user's roles",
      allowed: { [API]: ['orders:read', 'orders:write'] },
      userRoles: ['reader'],
      expect: 'orders:read',
    },
    {
      rule: "a user's token: the user's roles add up before the intersection",
      allowed: { [API]: ['orders:read', 'orders:write', 'orders:admin'] },
      userRoles: ['reader', 'writer'],
      expect: 'orders:read orders:write',
    },
    {
      rule: "a user's token: the user's roles never exceed what the client may have",
      allowed: { [API]: ['orders:read'] },
      userRoles: ['admin', 'reader'],
      expect: 'orders:read',
    },
    {
      rule: "a user's token: a user without roles on this API gets no scope of it",
      allowed: { [API]: ['orders:read'] },
      userRoles: ['biller'],
      expect: '',
    },
    {
      rule: "a user's token: the client's roles count for the client's side",
      clientRoles: ['writer'],
      userRoles: ['writer', 'reader'],
      expect: 'orders:write',
    },
  ];
  for (const row of rows) {
    it(row.rule, async () => {
      const indicators = indicatorsFor(row);
      // twice: the first answer is computed, the second may come from the memo; both the same
      for (let i = 0; i < 2; i++) {
        const answer = (async () =>
          indicators.getResourceServerInfo(contextFor(row), row.resource ?? API, { clientId: 'app' }))();
        if (typeof row.expect === 'string') assert.equal((await answer).scope, row.expect);
        else await assert.rejects(answer, row.expect);
      }
    });
  }
});
