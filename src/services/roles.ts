import { randomBytes } from 'node:crypto';
import { AppError, conflict, notFound, stale } from '../errors.ts';
import { type CacheBus, STALE_IF_ERROR_MS, TtlCache } from './cache.ts';
import type { Versioned } from './clients.ts';
import { unlessTaken } from './ports/errors.ts';
import type { Permission, RoleRecord, RoleRepository, RoleWrite } from './ports/roles.ts';

export interface NewRole {
  name: string;
  description?: string | null | undefined;
  permissions: Permission[];
}

/** a field left out stays as it is */
export type RoleChanges = Partial<Omit<RoleWrite, 'id'>>;

/** What a subject's roles allow, per API identifier. */
export interface Grants {
  readonly scopes: ReadonlyMap<string, ReadonlySet<string>>;
  /** names of the roles with at least one permission on the API */
  readonly roles: ReadonlyMap<string, readonly string[]>;
  readonly names: readonly string[];
}

export type Subject = { kind: 'user' | 'client'; id: string };

export interface RoleService {
  create(input: NewRole): Promise<RoleRecord>;
  get(id: string): Promise<RoleRecord>;
  list(options: { after?: string | undefined; limit: number; name?: string | undefined }): Promise<RoleRecord[]>;
  /** `expected`: the version the caller read and checked; a role changed since is not written (412) */
  update(id: string, changes: RoleChanges, options?: Versioned): Promise<RoleRecord>;
  delete(id: string, options?: Versioned): Promise<void>;
  /** the roles with these exact names (no case folding: another spelling is another name) */
  findByNames(names: readonly string[]): Promise<RoleRecord[]>;
  /** the subject's roles, read from the database (not cached) */
  rolesOf(subject: Subject): Promise<RoleRecord[]>;
  /** replaces the subject's roles; unknown names are a 400 naming `roles.<i>` */
  assign(subject: Subject, names: readonly string[]): Promise<void>;
  /** checks that every name exists, without assigning (before creating the subject) */
  check(names: readonly string[]): Promise<void>;
  namesOf(subject: Subject): Promise<string[]>;
  /** cached: what the subject's roles allow */
  grants(subject: Subject): Promise<Grants>;
  /** what `grants` would answer from the cache alone, without waiting: undefined when not cached */
  cachedGrants(subject: Subject): Grants | undefined;
}

function toGrants(roles: RoleRecord[]): Grants {
  const scopes = new Map<string, Set<string>>();
  const byResource = new Map<string, string[]>();
  for (const role of roles) {
    for (const { resource, scope } of role.permissions) {
      const set = scopes.get(resource) ?? new Set<string>();
      scopes.set(resource, set);
      set.add(scope);
      const names = byResource.get(resource) ?? [];
      if (!names.includes(role.name)) byResource.set(resource, [...names, role.name]);
    }
  }
  return Object.freeze({ scopes, roles: byResource, names: Object.freeze(roles.map((r) => r.name)) });
}

export function createRoleService(deps: { repo: RoleRepository; bus: CacheBus }): RoleService {
  const { repo, bus } = deps;
  const cache = new TtlCache<Grants>({ ttlMs: 60_000, max: 50_000, staleIfErrorMs: STALE_IF_ERROR_MS });
  bus.subscribe((event) => {
    if (event === 'all') cache.markAllStale();
    else if (event.topic === 'role') cache.invalidateAll();
    else if ((event.topic === 'user' || event.topic === 'client') && event.key !== undefined) {
      cache.invalidate(`${event.topic}:${event.key}`);
    }
  });
  // every subject's grants may change with a role
  const changed = () => bus.publish({ topic: 'role' });

  const resolve = async (names: readonly string[]) => {
    const found = await repo.findByNames(names);
    const details = names.flatMap((name, i) =>
      found.some((r) => r.name === name) ? [] : [{ field: `roles.${i}`, message: `no role named ${name}` }],
    );
    if (details.length > 0) throw new AppError('invalid_request', 400, 'unknown role', details);
    return found;
  };

  return {
    async create(input) {
      const created = await unlessTaken(
        repo.create({
          id: `role_${randomBytes(12).toString('base64url')}`,
          name: input.name,
          description: input.description ?? null,
          permissions: input.permissions,
        }),
        () => conflict(`a role named ${input.name} exists`),
      );
      // no user or client holds a new role yet: nobody's grants changed, no cache is dropped
      // (so creating roles does not flush every instance's grants, which tokens read)
      return created;
    },
    async get(id) {
      const found = await repo.find(id);
      if (!found) throw notFound('role');
      return found;
    },
    list: (options) => repo.list(options),
    async update(id, changes, options = {}) {
      const updated = await unlessTaken(repo.update(id, changes, options.expected), () =>
        conflict(`a role named ${changes.name} exists`),
      );
      if (updated === 'stale') throw stale();
      if (!updated) throw notFound('role');
      await changed();
      return updated;
    },
    async delete(id, options = {}) {
      const deleted = await repo.delete(id, options.expected);
      if (deleted === 'stale') throw stale();
      if (!deleted) throw notFound('role');
      await changed();
    },
    findByNames: (names) => repo.findByNames(names),
    rolesOf: (subject) => (subject.kind === 'user' ? repo.ofUser(subject.id) : repo.ofClient(subject.id)),
    async check(names) {
      await resolve(names);
    },
    async assign(subject, names) {
      const roles = await resolve(names);
      const ids = roles.map((r) => r.id);
      if (subject.kind === 'user') await repo.setForUser(subject.id, ids);
      else await repo.setForClient(subject.id, ids);
      await bus.publish({ topic: subject.kind, key: subject.id });
    },
    async namesOf(subject) {
      const roles = subject.kind === 'user' ? await repo.ofUser(subject.id) : await repo.ofClient(subject.id);
      return roles.map((r) => r.name);
    },
    cachedGrants(subject) {
      return cache.get(`${subject.kind}:${subject.id}`);
    },
    grants(subject) {
      return cache.getOrLoad(`${subject.kind}:${subject.id}`, async () =>
        toGrants(subject.kind === 'user' ? await repo.ofUser(subject.id) : await repo.ofClient(subject.id)),
      );
    },
  };
}
