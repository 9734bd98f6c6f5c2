import { randomBytes } from 'node:crypto';
import { conflict, notFound, stale } from '../errors.ts';
import { type CacheBus, followTopic, STALE_IF_ERROR_MS, TtlCache } from './cache.ts';
import type { Versioned } from './clients.ts';
import { unlessTaken } from './ports/errors.ts';
import type { ResourceRecord, ResourceRepository, ResourceWrite } from './ports/resources.ts';

export interface NewResource {
  identifier: string;
  name: string;
  scopes: string[];
  accessTokenTtl: number;
  rolesClaim?: boolean | undefined;
}

/** a field left out stays as it is; the identifier never changes */
export type ResourceChanges = Partial<Omit<ResourceWrite, 'id' | 'identifier'>>;

/** What the token endpoint needs to know about an API. */
export interface ResourceServer {
  identifier: string;
  scopes: readonly string[];
  accessTokenTtl: number;
  /** put the subject's roles for this API in its tokens */
  rolesClaim: boolean;
}

export interface ResourceService {
  create(input: NewResource): Promise<ResourceRecord>;
  get(id: string): Promise<ResourceRecord>;
  list(options: {
    after?: string | undefined;
    limit: number;
    identifierPrefix?: string | undefined;
  }): Promise<ResourceRecord[]>;
  /**
   * `expected`: the version the caller read; an API changed since is not written (412). Scopes
   * dropped from the API are dropped from roles and clients too (docs/decisions/0010).
   */
  update(id: string, changes: ResourceChanges, options?: Versioned): Promise<ResourceRecord>;
  /** removes the API and every role permission and client allowedResources entry naming it */
  delete(id: string, options?: Versioned): Promise<void>;
  /** cached: no database round trip on the token hot path */
  resolve(identifier: string): Promise<ResourceServer | undefined>;
  /** what `resolve` would answer from the cache alone, without waiting: undefined when not cached */
  cached(identifier: string): ResourceServer | undefined;
}

export function createResourceService(deps: {
  repo: ResourceRepository;
  bus: CacheBus;
  /** the admin API's own resource: built in, never stored, never editable */
  builtIn: ResourceServer;
}): ResourceService {
  const { repo, bus, builtIn } = deps;
  // null marks "no such API" so that unknown identifiers are not looked up on every request
  const cache = new TtlCache<ResourceServer | null>({ ttlMs: 60_000, max: 10_000, staleIfErrorMs: STALE_IF_ERROR_MS });
  followTopic(bus, 'resource', cache);
  // roles and clients lose what they held on an API that shrinks or goes (the repository prunes
  // them in the same transaction), so their caches go too
  const changed = async (identifier: string) => {
    await bus.publish({ topic: 'resource', key: identifier });
    await bus.publish({ topic: 'role' });
    await bus.publish({ topic: 'client' });
  };
  // the admin API's identifier, and spellings a URL parser takes for it, are not for another API
  const reserved = (identifier: string) => {
    const normalize = (v: string) => URL.parse(v)?.href.replace(/\/+$/, '') ?? v;
    return normalize(identifier) === normalize(builtIn.identifier);
  };

  const get = async (id: string) => {
    const found = await repo.find(id);
    if (!found) throw notFound('resource');
    return found;
  };

  return {
    async create(input) {
      if (reserved(input.identifier)) throw conflict(`${builtIn.identifier} is reserved for the admin API`);
      const created = await unlessTaken(
        repo.create({
          id: `rs_${randomBytes(12).toString('base64url')}`,
          ...input,
          rolesClaim: input.rolesClaim ?? false,
        }),
        () => conflict(`a resource with identifier ${input.identifier} exists`),
      );
      await changed(created.identifier);
      return created;
    },
    get,
    list: (options) => repo.list(options),
    async update(id, changes, options = {}) {
      const updated = await repo.update(id, changes, options.expected);
      if (updated === 'stale') throw stale();
      if (!updated) throw notFound('resource');
      await changed(updated.identifier);
      return updated;
    },
    async delete(id, options = {}) {
      const deleted = await repo.delete(id, options.expected);
      if (deleted === 'stale') throw stale();
      if (!deleted) throw notFound('resource');
      await changed(deleted.identifier);
    },
    cached(identifier) {
      return identifier === builtIn.identifier ? builtIn : (cache.get(identifier) ?? undefined);
    },
    resolve(identifier) {
      if (identifier === builtIn.identifier) return Promise.resolve(builtIn);
      return cache.getOrLoad(identifier, () => loadResource(identifier)).then((found) => found ?? undefined);
    },
  };

  async function loadResource(identifier: string): Promise<ResourceServer | null> {
    const row = await repo.findByIdentifier(identifier);
    return row
      ? {
          identifier: row.identifier,
          scopes: Object.freeze([...row.scopes]),
          accessTokenTtl: row.accessTokenTtl,
          rolesClaim: row.rolesClaim,
        }
      : null;
  }
}
