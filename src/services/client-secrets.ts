import { type KeyObject, randomUUID } from 'node:crypto';
import { AppError, conflict, notFound } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { CacheBus } from './cache.ts';
import type { ClientService, SecretUse } from './clients.ts';
import { needsSecret } from './clients.ts';
import type { ClientSecretRecord, ClientSecretRepository } from './ports/client-secrets.ts';
import { generateClientSecret, hashClientSecret } from './secrets.ts';

/**
 * The most secrets a client may have live at once. Rotation needs two (the old and the new one
 * while it is deployed); a few more allow for several deployments. The cap bounds the work a
 * token request does to check a secret (services/clients.ts verifies against every live one).
 */
const MAX_LIVE_SECRETS = 5;

/** A secret that expires this far ahead or more is refused as a mistake (a year 9999 typo). */
const MAX_LIFETIME_MS = 10 * 366 * 24 * 3600_000;

export interface ClientSecretService {
  list(clientId: string): Promise<ClientSecretRecord[]>;
  /** a new secret, returned in plaintext this once */
  add(
    clientId: string,
    input: { name: string; expiresAt?: Date | undefined },
  ): Promise<{ record: ClientSecretRecord; secret: string }>;
  remove(clientId: string, secretId: string): Promise<void>;
}

export function createClientSecretService(deps: {
  repo: ClientSecretRepository;
  clients: Pick<ClientService, 'get'>;
  bus: CacheBus;
  secretKey: KeyObject;
}): ClientSecretService {
  const { repo, clients, bus, secretKey } = deps;
  const changed = (clientId: string) => bus.publish({ topic: 'client', key: clientId });
  return {
    async list(clientId) {
      await clients.get(clientId);
      return repo.list(clientId);
    },
    async add(clientId, input) {
      const client = await clients.get(clientId);
      if (!needsSecret(client.metadata)) {
        throw new AppError('invalid_request', 400, 'this client does not authenticate with a client secret');
      }
      const now = new Date();
      if (input.expiresAt !== undefined) {
        if (input.expiresAt.getTime() <= now.getTime()) {
          throw new AppError('invalid_request', 400, 'expiresAt must be in the future', [
            { field: 'expiresAt', message: 'must be in the future' },
          ]);
        }
        if (input.expiresAt.getTime() - now.getTime() > MAX_LIFETIME_MS) {
          throw new AppError('invalid_request', 400, 'expiresAt must be within ten years', [
            { field: 'expiresAt', message: 'must be within ten years' },
          ]);
        }
      }
      const secret = generateClientSecret();
      const added = await repo.add(
        {
          id: randomUUID().replaceAll('-', ''),
          clientId,
          name: input.name,
          secretHash: hashClientSecret(secret, secretKey),
          expiresAt: input.expiresAt ?? null,
        },
        MAX_LIVE_SECRETS,
        now,
      );
      if (added === undefined) throw notFound('client');
      if (added === 'full') {
        throw conflict(`a client may have at most ${MAX_LIVE_SECRETS} live secrets: remove one first`);
      }
      await changed(clientId);
      return { record: added, secret };
    },
    async remove(clientId, secretId) {
      await clients.get(clientId);
      if (!(await repo.remove(clientId, secretId))) throw notFound('secret');
      await changed(clientId);
    },
  };
}

/**
 * `lastUsedAt` without a write per token request: the ids of the secrets that authenticated are
 * gathered in memory and written in one statement every `intervalMs` (and at close). A service
 * asking for a token every second costs one row update per interval, not one per token.
 */
export function createSecretUse(deps: {
  repo: Pick<ClientSecretRepository, 'touch'>;
  log: Logger;
  intervalMs?: number;
}): SecretUse & { flush(): Promise<void>; close(): Promise<void> } {
  const { repo, log } = deps;
  // bounded: a flood of distinct ids (there cannot be more than the live secrets) never grows it
  const MAX_PENDING = 10_000;
  let pending = new Set<string>();
  let running: Promise<void> = Promise.resolve();
  const flush = () => {
    running = running.then(async () => {
      if (pending.size === 0) return;
      const ids = [...pending];
      pending = new Set();
      try {
        await repo.touch(ids, new Date());
      } catch (err) {
        // the database is out of reach: keep them for the next round
        for (const id of ids) if (pending.size < MAX_PENDING) pending.add(id);
        log.warn({ err }, 'could not record when client secrets were last used');
      }
    });
    return running;
  };
  const timer = setInterval(() => void flush(), deps.intervalMs ?? 2000);
  timer.unref();
  return {
    seen(id) {
      if (pending.size < MAX_PENDING) pending.add(id);
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
