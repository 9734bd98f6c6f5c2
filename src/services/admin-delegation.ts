import { AppError, type ErrorDetail } from '../errors.ts';
import type { Permission, RoleRecord } from './ports/roles.ts';
import type { ResourceService } from './resources.ts';

/** The admin API's scopes: `admin` grants everything; `x:write` includes `x:read`. */
export const ADMIN_SCOPES = [
  'admin',
  'clients:read',
  'clients:write',
  'resources:read',
  'resources:write',
  'users:read',
  'users:write',
  'roles:read',
  'roles:write',
  'events:read',
  'keys:read',
  'keys:write',
] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

/**
 * The admin API's scopes a caller holds: those of its access token for the admin API.
 * `admin` is everything; `x:write` includes `x:read`.
 */
export type AdminPower = ReadonlySet<string>;

export const powerOf = (scope: string | undefined): AdminPower => new Set((scope ?? '').split(' ').filter(Boolean));

/** Whether `held` covers `scope` (the same rule the admin API's routes apply). */
export function covers(held: AdminPower, scope: string): boolean {
  if (held.has('admin') || held.has(scope)) return true;
  return scope.endsWith(':read') && held.has(scope.replace(/:read$/, ':write'));
}

/** The scopes of `granted` that `held` does not cover. */
const lacking = (held: AdminPower, granted: Iterable<string>): string[] =>
  [...new Set(granted)].filter((scope) => !covers(held, scope));

const refuse = (message: string, details?: ErrorDetail[]) => new AppError('insufficient_scope', 403, message, details);

/** The roles service as the rules need it: roles by name, and a subject's roles. */
export interface RoleLookup {
  findByNames(names: readonly string[]): Promise<RoleRecord[]>;
  rolesOf(subject: { kind: 'user' | 'client'; id: string }): Promise<RoleRecord[]>;
}

export interface AdminDelegation {
  /**
   * `allowedResources` as a caller sends it: every API exists and lists every scope (400 naming
   * `allowedResources.<identifier>` otherwise), and the caller holds every admin API scope in it.
   */
  checkAllowedResources(
    caller: AdminPower,
    allowedResources: Readonly<Record<string, readonly string[]>>,
  ): Promise<void>;
  /**
   * `introspection_audiences`: every API exists (400 naming `introspection_audiences.<i>`), and
   * only a caller holding `admin` lets a client read the admin API's tokens.
   */
  checkIntrospectionAudiences(caller: AdminPower, audiences: readonly string[]): Promise<void>;
  /**
   * `tokenExchange`: every API in `fromAudiences` exists (400 naming `tokenExchange.fromAudiences.<i>`);
   * exchanging the admin API's tokens, and impersonation (tokens with no trace of the client that
   * acted), need a caller holding `admin`.
   */
  checkTokenExchange(
    caller: AdminPower,
    settings: { fromAudiences: readonly string[]; impersonation?: boolean | undefined },
  ): Promise<void>;
  /** a role's permissions: the same, with fields `permissions.<i>.resource` / `.scope` */
  checkPermissions(caller: AdminPower, permissions: readonly Permission[]): Promise<void>;
  /**
   * Giving a user or a client roles: needs `roles:write`, every role must exist (400 `roles.<i>`),
   * and the caller must hold what they grant on the admin API.
   * @returns the roles, for the assignment
   */
  checkRoleAssignment(caller: AdminPower, names: readonly string[]): Promise<RoleRecord[]>;
  /** a client may be changed, rotated or deleted by the caller: not built in, and holding no more than the caller */
  checkClientTarget(
    caller: AdminPower,
    client: {
      id: string;
      allowedResources: Readonly<Record<string, readonly string[]>>;
      metadata?: Readonly<Record<string, unknown>>;
    },
  ): Promise<void>;
  /** a user may be changed or deleted by the caller: their roles hold no more of the admin API than the caller */
  checkUserTarget(caller: AdminPower, userId: string): Promise<void>;
  /** a role may be changed or deleted by the caller: it holds no more of the admin API than the caller */
  checkRoleTarget(caller: AdminPower, role: RoleRecord): void;
  /** client ids managed by configuration and written at every start */
  isBuiltInClient(id: string): boolean;
}

/**
 * The admin API's delegation rule (docs/decisions/0010-admin-delegation.md): a caller can give
 * away, directly or through roles, only the admin API scopes it holds itself, and it cannot
 * touch a client, user or role that holds more of the admin API than it does.
 */
export function createAdminDelegation(deps: {
  /** the admin API's identifier, `<ISSUER>/admin` */
  adminAudience: string;
  builtInClientIds: readonly string[];
  resources: Pick<ResourceService, 'resolve'>;
  roles: RoleLookup;
}): AdminDelegation {
  const { adminAudience, resources, roles } = deps;
  const builtIn = new Set(deps.builtInClientIds);

  /**
   * A client allowed to impersonate users, or to exchange the admin API's tokens, holds what only
   * `admin` may give (checkTokenExchange): only an `admin` caller may change it, or take its secret.
   */
  const adminOnlyExchange = (metadata: Readonly<Record<string, unknown>> | undefined): string[] => {
    const settings = metadata?.tokenExchange as { fromAudiences?: unknown; impersonation?: unknown } | undefined;
    if (typeof settings !== 'object' || settings === null) return [];
    const audiences = Array.isArray(settings.fromAudiences) ? settings.fromAudiences : [];
    return settings.impersonation === true || audiences.includes(adminAudience) ? ['admin'] : [];
  };

  const adminScopesOfRoles = (list: readonly RoleRecord[]) =>
    list.flatMap((role) => role.permissions.filter((p) => p.resource === adminAudience).map((p) => p.scope));

  const holdsAll = (caller: AdminPower, granted: Iterable<string>, what: string) => {
    const missing = lacking(caller, granted);
    if (missing.length > 0) {
      throw refuse(`${what} holds ${missing.join(', ')} on the admin API, which this token does not`);
    }
  };

  return {
    async checkAllowedResources(caller, allowedResources) {
      const details: ErrorDetail[] = [];
      for (const [identifier, scopes] of Object.entries(allowedResources)) {
        const api = await resources.resolve(identifier);
        if (!api) {
          details.push({ field: `allowedResources.${identifier}`, message: `no API with identifier ${identifier}` });
          continue;
        }
        for (const [i, scope] of scopes.entries()) {
          if (!api.scopes.includes(scope)) {
            details.push({
              field: `allowedResources.${identifier}.${i}`,
              message: `${identifier} has no scope ${scope}`,
            });
          }
        }
      }
      if (details.length > 0) throw new AppError('invalid_request', 400, 'unknown API or scope', details);
      const missing = lacking(caller, allowedResources[adminAudience] ?? []);
      if (missing.length > 0) {
        throw refuse(`granting ${missing.join(', ')} on the admin API needs a token that holds it`, [
          { field: `allowedResources.${adminAudience}`, message: `this token does not hold ${missing.join(', ')}` },
        ]);
      }
    },

    async checkIntrospectionAudiences(caller, audiences) {
      const details: ErrorDetail[] = [];
      for (const [i, identifier] of audiences.entries()) {
        if (!(await resources.resolve(identifier))) {
          details.push({ field: `introspection_audiences.${i}`, message: `no API with identifier ${identifier}` });
        }
      }
      if (details.length > 0) throw new AppError('invalid_request', 400, 'unknown API', details);
      // the admin API's tokens carry what every admin may do: reading them is admin business
      const i = audiences.indexOf(adminAudience);
      if (i !== -1 && !covers(caller, 'admin')) {
        throw refuse("introspecting the admin API's tokens needs a token that holds admin", [
          { field: `introspection_audiences.${i}`, message: 'this token does not hold admin' },
        ]);
      }
    },

    async checkTokenExchange(caller, settings) {
      const details: ErrorDetail[] = [];
      for (const [i, identifier] of settings.fromAudiences.entries()) {
        if (!(await resources.resolve(identifier))) {
          details.push({ field: `tokenExchange.fromAudiences.${i}`, message: `no API with identifier ${identifier}` });
        }
      }
      if (details.length > 0) throw new AppError('invalid_request', 400, 'unknown API', details);
      if (covers(caller, 'admin')) return;
      const i = settings.fromAudiences.indexOf(adminAudience);
      if (i !== -1) {
        throw refuse("exchanging the admin API's tokens needs a token that holds admin", [
          { field: `tokenExchange.fromAudiences.${i}`, message: 'this token does not hold admin' },
        ]);
      }
      if (settings.impersonation === true) {
        throw refuse('allowing impersonation needs a token that holds admin', [
          { field: 'tokenExchange.impersonation', message: 'this token does not hold admin' },
        ]);
      }
    },

    async checkPermissions(caller, permissions) {
      const details: ErrorDetail[] = [];
      for (const [i, { resource, scope }] of permissions.entries()) {
        const api = await resources.resolve(resource);
        if (!api) details.push({ field: `permissions.${i}.resource`, message: `no API with identifier ${resource}` });
        else if (!api.scopes.includes(scope)) {
          details.push({ field: `permissions.${i}.scope`, message: `${resource} has no scope ${scope}` });
        }
      }
      if (details.length > 0) throw new AppError('invalid_request', 400, 'unknown API or scope', details);
      const refused = permissions.flatMap((p, i) =>
        p.resource === adminAudience && !covers(caller, p.scope)
          ? [{ field: `permissions.${i}.scope`, message: `this token does not hold ${p.scope}` }]
          : [],
      );
      if (refused.length > 0) {
        throw refuse('granting admin API scopes through a role needs a token that holds them', refused);
      }
    },

    async checkRoleAssignment(caller, names) {
      // giving roles decides what a subject may do on every API: that is the roles scope's job
      if (!covers(caller, 'roles:write')) throw refuse('assigning roles needs the scope roles:write');
      // names are compared exactly (as stored), so another spelling or case is an unknown role
      const found = await roles.findByNames(names);
      const details = names.flatMap((name, i) =>
        found.some((r) => r.name === name) ? [] : [{ field: `roles.${i}`, message: `no role named ${name}` }],
      );
      if (details.length > 0) throw new AppError('invalid_request', 400, 'unknown role', details);
      for (const role of found) holdsAll(caller, adminScopesOfRoles([role]), `the role ${role.name}`);
      return found;
    },

    async checkClientTarget(caller, client) {
      if (builtIn.has(client.id)) {
        throw new AppError(
          'forbidden',
          403,
          `${client.id} is built in: it is written from configuration at every start and cannot be changed here`,
        );
      }
      const fromRoles = adminScopesOfRoles(await roles.rolesOf({ kind: 'client', id: client.id }));
      holdsAll(
        caller,
        [...(client.allowedResources[adminAudience] ?? []), ...fromRoles, ...adminOnlyExchange(client.metadata)],
        'this client',
      );
    },

    async checkUserTarget(caller, userId) {
      holdsAll(caller, adminScopesOfRoles(await roles.rolesOf({ kind: 'user', id: userId })), 'this user');
    },

    checkRoleTarget(caller, role) {
      holdsAll(caller, adminScopesOfRoles([role]), 'this role');
    },

    isBuiltInClient: (id) => builtIn.has(id),
  };
}
