import type { Database } from '../db/database.ts';
import { createClientSecretRepository } from '../db/repositories/client-secrets.ts';
import { createClientRepository } from '../db/repositories/clients.ts';
import { createFederationRepository } from '../db/repositories/federation.ts';
import { createOidcPayloadRepository } from '../db/repositories/oidc-payloads.ts';
import { createPasskeyRepository } from '../db/repositories/passkeys.ts';
import { createReplayKeyRepository } from '../db/repositories/replay-keys.ts';
import { createResourceRepository } from '../db/repositories/resources.ts';
import { createRoleRepository } from '../db/repositories/roles.ts';
import { createSecurityEventRepository } from '../db/repositories/security-events.ts';
import { createSigningKeyRepository } from '../db/repositories/signing-keys.ts';
import { createUserRepository } from '../db/repositories/users.ts';

/** Every repository over one database: the only code that touches Prisma. */
export function createRepositories(db: Database) {
  const { prisma } = db;
  return {
    clients: createClientRepository(prisma),
    clientSecrets: createClientSecretRepository(prisma),
    federation: createFederationRepository(prisma),
    payloads: createOidcPayloadRepository(prisma),
    passkeys: createPasskeyRepository(prisma),
    replayKeys: createReplayKeyRepository(prisma),
    resources: createResourceRepository(prisma),
    roles: createRoleRepository(prisma),
    events: createSecurityEventRepository(prisma),
    signingKeys: createSigningKeyRepository(prisma),
    users: createUserRepository(prisma),
  };
}

export type Repositories = ReturnType<typeof createRepositories>;
