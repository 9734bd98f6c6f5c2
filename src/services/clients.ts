import { createHmac, hash, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError, conflict, notFound, stale } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { type CacheBus, followTopic, STALE_IF_ERROR_MS, TtlCache } from './cache.ts';
import type { ClientSecretRepository } from './ports/client-secrets.ts';
import type { ClientRecord, ClientRepository } from './ports/clients.ts';
import { UniqueViolation, unlessTaken } from './ports/errors.ts';
import { generateClientSecret, hashClientSecret, isHashedSecret, secretHashBytes } from './secrets.ts';

/** RFC 7591 client metadata (snake_case, as oidc-provider reads it), without id and secret. */
export type ClientMetadata = Record<string, unknown> & {
  token_endpoint_auth_method?: string;
  grant_types?: string[];
  redirect_uris?: string[];
};

export interface NewClient {
  client_id?: string | undefined;
  metadata: ClientMetadata;
  allowedResources: Record<string, string[]>;
  firstParty: boolean;
}

export interface ClientChanges {
  metadata?: ClientMetadata;
  allowedResources?: Record<string, string[]>;
  firstParty?: boolean;
}

/** A write conditional on the version the caller read. */
export interface Versioned {
  expected?: Date | undefined;
}

export interface ClientWithSecret {
  client: ClientRecord;
  /** the plaintext secret: returned this once, never stored */
  secret: string | undefined;
}

/** The client as oidc-provider sees it, plus what our token rules need. */
export interface CachedClient {
  readonly providerMetadata: Readonly<Record<string, unknown>>;
  readonly allowedResources: Readonly<Record<string, readonly string[]>>;
  /** epoch ms: a token issued before is not this client's (one of the same id, deleted since) */
  readonly createdAt: number;
  /** the secrets that were live when the entry was loaded (expiry is checked at every use) */
  readonly secrets: readonly LiveSecret[];
}

export interface LiveSecret {
  readonly id: string;
  /** the HMAC-SHA256 of the secret (32 bytes) */
  readonly hash: Buffer;
  /** epoch ms; Infinity when it does not expire */
  readonly expiresAt: number;
}

/** Where a secret that authenticated is reported, so its `lastUsedAt` is written in batches. */
export interface SecretUse {
  seen(secretId: string): void;
}

export interface ClientService {
  register(input: NewClient): Promise<ClientWithSecret>;
  get(id: string): Promise<ClientRecord>;
  list(options: {
    after?: string | undefined;
    limit: number;
    namePrefix?: string | undefined;
  }): Promise<ClientRecord[]>;
  /**
   * An admin's change. `expected`: the version (`updatedAt`) the caller read and checked; a
   * client changed since is not written (412), so concurrent writers cannot overwrite each other
   * (RFC 9110 §13.1.1). A client that registered itself is from then on managed by admins only:
   * its RFC 7592 registration access tokens end with the change (an admin may just have allowed
   * it more than the holder of that token, who got it through a clients:write initial access
   * token, may grant or change; docs/decisions/0010).
   */
  update(id: string, changes: ClientChanges, options?: Versioned): Promise<ClientWithSecret>;
  delete(id: string, options?: Versioned): Promise<void>;
  /** an admin's rotation; like `update`, it ends the client's registration access tokens */
  rotateSecret(id: string, options?: Versioned): Promise<ClientWithSecret>;
  /** creates or updates a confidential client with a secret chosen by the operator (ADMIN_CLIENT_*) */
  bootstrap(id: string, secret: string, input: Omit<NewClient, 'client_id'>): Promise<void>;
  /**
   * Stores a client that registered itself (RFC 7591) or changed its registration (RFC 7592),
   * as oidc-provider hands it over: the plaintext secret is hashed here and never stored.
   */
  saveRegistered(id: string, properties: Record<string, unknown>): Promise<void>;
  /** cached: no database round trip on the token hot path */
  resolve(id: string): Promise<CachedClient | undefined>;
  /** what `resolve` would answer from the cache alone, without waiting: undefined when not cached */
  cached(id: string): CachedClient | undefined;
  /** whether `presented` is one of the client's live secrets (cached: no database round trip) */
  verifySecret(clientId: unknown, presented: unknown): Promise<boolean>;
}

const isPublic = (metadata: ClientMetadata) => metadata.token_endpoint_auth_method === 'none';

/** Only these methods authenticate with the client secret. */
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post']);
export const needsSecret = (metadata: ClientMetadata) =>
  SECRET_METHODS.has(metadata.token_endpoint_auth_method ?? 'client_secret_basic');

/**
 * A generated client id: 128 random bits, base64url, never starting with `-` (a command line
 * would read such an id as an option: `idp client show -x...`).
 */
export function newClientId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export function createClientService(deps: {
  repo: ClientRepository;
  secrets: Pick<ClientSecretRepository, 'listLive'>;
  /** told which secret authenticated (lastUsedAt) */
  secretUse: SecretUse;
  bus: CacheBus;
  secretKey: KeyObject;
  /** oidc-provider's own validation of the full metadata; throws a 400 AppError */
  validate: (metadata: Record<string, unknown>) => Promise<void>;
  log: Logger;
}): ClientService {
  const { repo, bus, secretKey, validate, log, secretUse } = deps;
  // known clients keep getting tokens through a database outage (static stability)
  const cache = new TtlCache<CachedClient | null>({ ttlMs: 60_000, max: 10_000, staleIfErrorMs: STALE_IF_ERROR_MS });
  followTopic(bus, 'client', cache);
  const changed = (id: string) => bus.publish({ topic: 'client', key: id });
  const NO_MATCH = Buffer.alloc(32);
  // A service presents the same secret on every token request. Remember, per secret, the
  // unkeyed SHA-256 of the plaintext that last matched it (a 256-bit random secret cannot be
  // recovered from it), so the hot path skips the HMAC. Kept as hex text: Node's one-shot
  // hash returns a string about five times faster than a Buffer (0.4 µs against 2 µs here).
  const verified = new TtlCache<string>({ ttlMs: 10 * 60_000, max: 10_000 });

  const providerMetadata = (id: string, metadata: ClientMetadata, secretHash: string | null, firstParty: boolean) => ({
    ...metadata,
    client_id: id,
    // the hash stands in the secret's place; Client#compareClientSecret is replaced to verify against it
    ...(secretHash === null ? {} : { client_secret: secretHash }),
    first_party: firstParty,
  });

  const checked = async (id: string, metadata: ClientMetadata, firstParty: boolean) => {
    // a public client has nothing to authenticate with: client credentials would be anyone's
    if (isPublic(metadata) && metadata.grant_types?.includes('client_credentials')) {
      throw new AppError(
        'invalid_client_metadata',
        400,
        'client_credentials needs a confidential client (not token_endpoint_auth_method none)',
      );
    }
    // a placeholder secret: oidc-provider insists on one for confidential clients
    await validate(providerMetadata(id, metadata, needsSecret(metadata) ? 'x'.repeat(43) : null, firstParty));
  };

  const get = async (id: string) => {
    const found = await repo.find(id);
    if (!found) throw notFound('client');
    return found;
  };

  const loadClient = async (id: string): Promise<CachedClient | null> => {
    const row = await repo.find(id);
    if (!row) return null;
    const live = row.secretHash === null ? [] : await deps.secrets.listLive(id, new Date());
    return Object.freeze({
      providerMetadata: Object.freeze(providerMetadata(row.id, row.metadata, row.secretHash, row.firstParty)),
      allowedResources: Object.freeze(row.allowedResources),
      createdAt: row.createdAt.getTime(),
      secrets: Object.freeze(
        live.flatMap((s) => {
          const bytes = secretHashBytes(s.secretHash);
          return bytes
            ? [{ id: s.id, hash: bytes, expiresAt: s.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY }]
            : [];
        }),
      ),
    });
  };
  const resolve = (id: string): Promise<CachedClient | undefined> =>
    cache.getOrLoad(id, () => loadClient(id)).then((found) => found ?? undefined);

  return {
    async register(input) {
      const id = input.client_id ?? newClientId();
      await checked(id, input.metadata, input.firstParty);
      const secret = needsSecret(input.metadata) ? generateClientSecret() : undefined;
      const created = await unlessTaken(
        repo.create({
          id,
          name: typeof input.metadata.client_name === 'string' ? input.metadata.client_name : null,
          metadata: input.metadata,
          secretHash: secret === undefined ? null : hashClientSecret(secret, secretKey),
          allowedResources: input.allowedResources,
          firstParty: input.firstParty,
        }),
        () => conflict(`a client with client_id ${id} exists`),
      );
      await changed(id);
      return { client: created, secret };
    },
    get,
    list: (options) => repo.list(options),
    async update(id, changes, options = {}) {
      const current = await get(id);
      const metadata = changes.metadata ?? current.metadata;
      const firstParty = changes.firstParty ?? current.firstParty;
      await checked(id, metadata, firstParty);
      // a public client that becomes confidential gets a secret; one that becomes public loses it
      let secret: string | undefined;
      let secretHash = current.secretHash;
      if (!needsSecret(metadata)) secretHash = null;
      else if (secretHash === null) {
        secret = generateClientSecret();
        secretHash = hashClientSecret(secret, secretKey);
      }
      const updated = await repo.update(
        id,
        {
          metadata,
          name: typeof metadata.client_name === 'string' ? metadata.client_name : null,
          // only a change of kind touches the secrets: the ones added since stay
          ...(secretHash === current.secretHash ? {} : { secretHash }),
          firstParty,
          ...(changes.allowedResources === undefined ? {} : { allowedResources: changes.allowedResources }),
        },
        options.expected,
        { endRegistration: true },
      );
      if (updated === 'stale') throw stale();
      if (!updated) throw notFound('client');
      await changed(id);
      return { client: updated, secret };
    },
    async delete(id, options = {}) {
      const deleted = await repo.delete(id, options.expected);
      if (deleted === 'stale') throw stale();
      if (!deleted) throw notFound('client');
      await changed(id);
    },
    async rotateSecret(id, options = {}) {
      const current = await get(id);
      if (!needsSecret(current.metadata)) {
        throw new AppError('invalid_request', 400, 'this client does not authenticate with a client secret');
      }
      const secret = generateClientSecret();
      // the shortcut: this one secret replaces all the others at once
      const updated = await repo.update(id, { secretHash: hashClientSecret(secret, secretKey) }, options.expected, {
        endRegistration: true,
        secretName: 'rotated',
      });
      if (updated === 'stale') throw stale();
      if (!updated) throw notFound('client');
      await changed(id);
      return { client: updated, secret };
    },
    async bootstrap(id, secret, input) {
      await checked(id, input.metadata, input.firstParty);
      const fields = {
        name: typeof input.metadata.client_name === 'string' ? input.metadata.client_name : null,
        metadata: input.metadata,
        secretHash: hashClientSecret(secret, secretKey),
        allowedResources: input.allowedResources,
        firstParty: input.firstParty,
      };
      const updated = await repo.update(id, fields, undefined, { secretName: 'ADMIN_CLIENT_SECRET' });
      if (!updated) {
        // another instance may create it at the same moment; ours is the same configuration
        const taken = await repo.create({ id, ...fields }, { secretName: 'ADMIN_CLIENT_SECRET' }).then(
          () => false,
          (err: unknown) => {
            if (err instanceof UniqueViolation) return true;
            throw err;
          },
        );
        if (taken) await repo.update(id, fields, undefined, { secretName: 'ADMIN_CLIENT_SECRET' });
      }
      log.info({ clientId: id }, updated ? 'admin client updated' : 'admin client created');
      await changed(id);
    },
    async saveRegistered(id, properties) {
      const { client_secret, client_id: _, first_party: __, ...metadata } = properties;
      let secretHash: string | null = null;
      if (typeof client_secret === 'string') {
        secretHash = isHashedSecret(client_secret) ? client_secret : hashClientSecret(client_secret, secretKey);
      }
      const fields = {
        name: typeof metadata.client_name === 'string' ? metadata.client_name : null,
        metadata: metadata as ClientMetadata,
        secretHash,
        // never first-party through self-registration: that would skip consent
        firstParty: false,
      };
      // an update keeps what an admin allowed it; a new one is allowed no API
      if (!(await repo.update(id, fields))) {
        await unlessTaken(repo.create({ id, ...fields, allowedResources: {} }), () =>
          conflict(`a client with client_id ${id} exists`),
        );
      }
      log.info({ clientId: id }, 'client registered itself');
      await changed(id);
    },
    resolve,
    cached: (id) => cache.get(id) ?? undefined,
    async verifySecret(clientId, presented) {
      if (typeof clientId !== 'string' || typeof presented !== 'string') return false;
      if (presented.length === 0 || presented.length > 512) return false;
      const client = await resolve(clientId);
      if (!client) return false;
      // A constant-time comparison with every live secret (at most five), all of them, matched
      // or not: first with the digests of secrets seen before, then with one HMAC of the
      // presented secret. The cost does not depend on which secret matched.
      const now = Date.now();
      const digest = hash('sha256', presented, 'hex');
      let matched: LiveSecret | undefined;
      for (const secret of client.secrets) {
        const known = verified.get(secret.id);
        if (sameDigest(known, digest) && secret.expiresAt > now && matched === undefined) matched = secret;
      }
      if (matched === undefined) {
        const actual = createHmac('sha256', secretKey).update(presented, 'utf8').digest();
        for (const secret of client.secrets) {
          const equal = timingSafeEqual(secret.hash.length === 32 ? secret.hash : NO_MATCH, actual);
          if (equal && secret.expiresAt > now && matched === undefined) matched = secret;
        }
        if (matched) verified.set(matched.id, digest);
      }
      if (matched) secretUse.seen(matched.id);
      return matched !== undefined;
    },
  };
}

/**
 * Two hex SHA-256 digests compared in time that depends only on their length (always 64
 * here), like timingSafeEqual, without turning them into Buffers. A digest not yet known
 * (undefined) is compared with itself so it costs the same and matches nothing.
 */
function sameDigest(known: string | undefined, presented: string): boolean {
  const a = known ?? presented;
  if (a.length !== presented.length) return false;
  let diff = known === undefined ? 1 : 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ presented.charCodeAt(i);
  return diff === 0;
}
