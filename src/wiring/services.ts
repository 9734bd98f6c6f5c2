import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { fetchFederatedJwks } from '../oidc/federation-fetch.ts';
import { createLogoutTokenPoster } from '../oidc/logout-token-post.ts';
import { DEFAULT_TOKEN_TTL } from '../oidc/provider.ts';
import { createAccessTokenService } from '../services/access-tokens.ts';
import { createAccountChangeService, createAccountNotifier } from '../services/account-changes.ts';
import { createAccountService } from '../services/accounts.ts';
import { ADMIN_SCOPES } from '../services/admin-delegation.ts';
import { createMfaDecision } from '../services/authentication-policy.ts';
import { createBackchannelLogout } from '../services/backchannel-logout.ts';
import { createCacheBus } from '../services/cache.ts';
import { loadCatalogs } from '../services/catalog-files.ts';
import { createClientSecretService, createSecretUse } from '../services/client-secrets.ts';
import { createClientService } from '../services/clients.ts';
import { createDeviceFlowGuard } from '../services/device-flow.ts';
import { createFederationService } from '../services/federation.ts';
import { createFederationKeys } from '../services/federation-keys.ts';
import { createKeyService, type KeyService } from '../services/keys.ts';
import { createMetrics, type RouteLabels } from '../services/metrics.ts';
import { createPasskeyService } from '../services/passkeys.ts';
import { createPasswordChange } from '../services/password-change.ts';
import { createPasswordService } from '../services/passwords.ts';
import { createPendingSignIns } from '../services/pending-signins.ts';
import { createProtection } from '../services/protection.ts';
import { createRateLimitStore } from '../services/rate-limits.ts';
import { createResourceService } from '../services/resources.ts';
import { createRevocations } from '../services/revocations.ts';
import { createRoleService } from '../services/roles.ts';
import { createSecondFactorService, mailNotifier } from '../services/second-factors.ts';
import type { DerivedKeys } from '../services/secrets.ts';
import { createSecurityEventService } from '../services/security-events.ts';
import { createSessionService } from '../services/sessions.ts';
import { createSigninFlow } from '../services/signin-flow.ts';
import { createSigninProtection } from '../services/signin-protection.ts';
import { createChallengeStore } from '../services/webauthn-challenges.ts';
import type { Lifetime } from './lifetime.ts';
import type { Repositories } from './repositories.ts';
import { createSelfService, openOutbox } from './self-service.ts';
import { createWebhooks } from './webhooks.ts';

/** Admin tokens are short-lived: five minutes. */
const ADMIN_TOKEN_TTL = 300;

/** The signing keys, with an active key of every algorithm made if missing (the CLI uses this alone). */
async function openKeys(config: Config, repos: Repositories, secrets: DerivedKeys, log: Logger): Promise<KeyService> {
  const keys = createKeyService({
    repo: repos.signingKeys,
    encryptionKey: secrets.keyEncryption,
    log,
    publishAheadSeconds: config.keys.publishAheadSeconds,
    longestTokenLifetime: async () => Math.max(DEFAULT_TOKEN_TTL, await repos.resources.longestAccessTokenTtl()),
  });
  await keys.ensure();
  return keys;
}

export interface ServiceDeps {
  config: Config;
  issuer: string;
  log: Logger;
  db: Database;
  secrets: DerivedKeys;
  repos: Repositories;
  lifetime: Lifetime;
  /** the provider's own check of client metadata (it knows its features and algorithms) */
  validateClient(metadata: Record<string, unknown>): Promise<void>;
}

/** The domain: every service, over the repositories; what holds a connection or a queue closes with the lifetime. */
export async function createServices(deps: ServiceDeps) {
  const { config, issuer, log, db, secrets, repos, lifetime } = deps;
  const keys = await openKeys(config, repos, secrets, log);
  // another instance's (or the CLI's) changes reach the caches here through LISTEN/NOTIFY
  const bus = createCacheBus(db);
  await bus.start();
  const keystore = { current: await keys.load() };

  const metrics = createMetrics({
    pool: db.poolStats ? () => db.poolStats?.() : undefined,
    signingKeys: () => keystore.current.keys,
  });
  const events = createSecurityEventService({
    repo: repos.events,
    log,
    metrics,
    retentionDays: config.limits.eventRetentionDays,
  });
  lifetime.defer(() => events.close());
  const store = await createRateLimitStore({ redisUrl: config.redisUrl, issuer, log });
  // keys what the counters, the event log and the known-device cookie keep of sign-in names
  const protection = createProtection({
    config: config.limits,
    store,
    events,
    metrics,
    log,
    digestKey: secrets.eventDigest,
  });
  lifetime.defer(() => protection.close());

  const adminAudience = `${issuer}/admin`;
  const resources = createResourceService({
    repo: repos.resources,
    bus,
    builtIn: { identifier: adminAudience, scopes: ADMIN_SCOPES, accessTokenTtl: ADMIN_TOKEN_TTL, rolesClaim: false },
  });
  // which secret authenticated, written in batches (lastUsedAt), and at close
  const secretUse = createSecretUse({ repo: repos.clientSecrets, log });
  lifetime.defer(() => secretUse.close());
  const clients = createClientService({
    repo: repos.clients,
    secrets: repos.clientSecrets,
    secretUse,
    bus,
    secretKey: secrets.clientSecretHmac,
    log,
    validate: deps.validateClient,
  });
  const clientSecrets = createClientSecretService({
    repo: repos.clientSecrets,
    clients,
    bus,
    secretKey: secrets.clientSecretHmac,
  });
  // workload identity: trusted external issuers, their keys, the subjects bound to clients
  const federation = createFederationService({
    repo: repos.federation,
    bus,
    keys: createFederationKeys({
      fetchJwks: fetchFederatedJwks,
      cooldownMs: config.limits.federationJwksCooldownSeconds * 1000,
    }),
  });
  const roles = createRoleService({ repo: repos.roles, bus });
  // the durable outbox (mail, logout tokens); its worker starts with the jobs
  const outbox = await openOutbox({ config, log, db, repos });
  // logout tokens for the clients of ended sessions, through the outbox with its retries
  const backchannel = createBackchannelLogout({
    issuer,
    outbox,
    sessions: repos.payloads,
    clients,
    keystore: () => keystore.current,
    post: createLogoutTokenPoster(),
    events,
  });
  // RFC 8628: wrong user codes per address and overall, and the polling interval
  const deviceGuard = createDeviceFlowGuard({ store, events });
  // OWASP's argon2id parameters; cheap ones in tests only (NODE_ENV=test)
  const passwords = createPasswordService(
    config.env === 'test' ? { params: { memoryCost: 1024, timeCost: 1, parallelism: 1 } } : {},
  );
  const accounts = createAccountService({
    users: repos.users,
    passwords,
    log,
    // a password change or a disabled account ends the sessions and tokens kept here
    payloads: repos.payloads,
    events,
    backchannel,
    bus,
  });
  // introspection and the admin API ask whether a token's client and user still stand
  const accessTokens = createAccessTokenService({
    issuer,
    keystore: () => keystore.current,
    revocations: createRevocations({ payloads: repos.payloads, bus, log }),
    standing: {
      clientCreatedAt: async (id) => (await clients.resolve(id))?.createdAt,
      userTokenValid: (id, issuedAt) => accounts.tokenStillValid(id, issuedAt),
    },
  });
  // a new passkey is announced to its owner (on /account today; a mailer would hook in there)
  const notifier = createAccountNotifier({ payloads: repos.payloads, log });
  const passkeys = createPasskeyService({
    issuer,
    rpName: 'Identity',
    repo: repos.passkeys,
    challenges: createChallengeStore({ payloads: repos.payloads }),
    users: accounts,
    log,
    events,
    metrics,
    notifier,
  });
  let selfService: Awaited<ReturnType<typeof createSelfService>> | undefined;
  // authenticator apps (TOTP) and recovery codes; a used recovery code is announced through the notifier
  const secondFactors = createSecondFactorService({
    repo: repos.secondFactors,
    encryptionKey: secrets.totpEncryption,
    recoveryKey: secrets.recoveryCodeHmac,
    issuerLabel: new URL(issuer).hostname,
    store,
    events,
    metrics,
    // the mailer is built below, with the outbox; a code used before that has nobody to tell yet
    notifier: mailNotifier({ users: accounts, mailer: () => selfService?.mailer, issuer, log }),
  });
  // with a second factor, changing the ways to sign in needs a proof of one, not the password alone
  const changes = createAccountChangeService({
    passkeys,
    totp: secondFactors,
    payloads: repos.payloads,
    events,
    metrics,
  });
  // an authenticator app, once confirmed, is asked for after every password
  // the user's setting, passkey count and app in one statement, shared by the reads of one Promise.all
  const factorFacts = repos.secondFactorFacts.of;
  const needsMfa = createMfaDecision({
    global: config.mfaRequired,
    userRequires: async (id) => {
      const f = await factorFacts(id);
      return f.mfaRequired || f.totp;
    },
    hasSecondFactor: async (id) => {
      const f = await factorFacts(id);
      return f.passkeys > 0 || f.totp;
    },
  });
  // the words of every page and mail, in each language of views/locales (checked here, at start)
  const catalogs = loadCatalogs(fileURLToPath(new URL('../../views/locales', import.meta.url)));
  // mail through the outbox, password reset, sign-up and email verification
  selfService = await createSelfService({
    ...{ config, issuer, log, secrets, repos, lifetime, store, outbox, accounts, passwords, events },
    bruteForce: protection.bruteForce,
    productName: config.brand.productName,
    catalogs,
  });
  // the sessions and applications people see and end on /account (and admins for them)
  const sessions = createSessionService({ repo: repos.userSessions, accounts, clients, events, log });
  const passwordChange = createPasswordChange({
    users: repos.users,
    passwords,
    sessions,
    limiter: protection.limits.signin_account,
    events,
    log,
  });
  // security events pushed to registered URLs, through the same outbox
  const webhooks = createWebhooks({ config, repos, secrets, outbox, events });
  const signin = createSigninFlow({
    accounts,
    passkeys,
    factorFacts,
    pending: createPendingSignIns({ payloads: repos.payloads }),
    secondFactors,
    needsMfa,
    protection: createSigninProtection({
      protection,
      findUserId: (login) => accounts.idOfLogin(login),
      digestKey: secrets.eventDigest,
    }),
    events,
    metrics,
  });

  return {
    adminAudience,
    bus,
    keys,
    /** the signing keys in use; replaced when another instance rotates them (see jobs.ts) */
    keystore,
    metrics,
    /** the route each request took, named by the provider (see oidc/observe.ts), for the request metrics */
    routeLabels: new WeakMap() as RouteLabels,
    events,
    protection,
    resources,
    clients,
    clientSecrets,
    federation,
    roles,
    accounts,
    accessTokens,
    notifier,
    passkeys,
    changes,
    secondFactors,
    needsMfa,
    signin,
    webhooks,
    outbox,
    /** the message catalogs of views/locales, for the pages and the mails */
    catalogs,
    ...selfService,
    sessions,
    passwordChange,
    backchannel,
    deviceGuard,
  };
}

export type Services = Awaited<ReturnType<typeof createServices>>;
