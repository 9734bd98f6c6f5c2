import type { Database } from '../db/database.ts';
import { createAccountTokenRepository } from '../db/repositories/account-tokens.ts';
import { createClientSecretRepository } from '../db/repositories/client-secrets.ts';
import { createClientRepository } from '../db/repositories/clients.ts';
import { createFederationRepository } from '../db/repositories/federation.ts';
import { createOidcPayloadRepository } from '../db/repositories/oidc-payloads.ts';
import { createOutboxRepository } from '../db/repositories/outbox.ts';
import { createPasskeyRepository } from '../db/repositories/passkeys.ts';
import { createReplayKeyRepository } from '../db/repositories/replay-keys.ts';
import { createResourceRepository } from '../db/repositories/resources.ts';
import { createRoleRepository } from '../db/repositories/roles.ts';
import { createSecondFactorFactsRepository } from '../db/repositories/second-factor-facts.ts';
import { createSecondFactorRepository } from '../db/repositories/second-factors.ts';
import { createSecurityEventRepository } from '../db/repositories/security-events.ts';
import { createSigningKeyRepository } from '../db/repositories/signing-keys.ts';
import { createUserSessionRepository } from '../db/repositories/user-sessions.ts';
import { createUserRepository } from '../db/repositories/users.ts';
import { createWebhookRepository } from '../db/repositories/webhooks.ts';

/** Every repository over one database: the only code that touches Prisma. */
export function createRepositories(db: Database) {
  const { prisma } = db;
  return {
    accountTokens: createAccountTokenRepository(prisma),
    outbox: createOutboxRepository(prisma),
    clients: createClientRepository(prisma),
    clientSecrets: createClientSecretRepository(prisma),
    federation: createFederationRepository(prisma),
    payloads: createOidcPayloadRepository(prisma, db.query),
    passkeys: createPasskeyRepository(prisma),
    replayKeys: createReplayKeyRepository(prisma),
    resources: createResourceRepository(prisma),
    roles: createRoleRepository(prisma),
    secondFactors: createSecondFactorRepository(prisma),
    secondFactorFacts: createSecondFactorFactsRepository(db.query),
    events: createSecurityEventRepository(prisma, db.query),
    signingKeys: createSigningKeyRepository(prisma),
    users: createUserRepository(prisma, db.query),
    userSessions: createUserSessionRepository(prisma, db.query),
    webhooks: createWebhookRepository(prisma),
  };
}

export type Repositories = ReturnType<typeof createRepositories>;
