import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type Provider from 'oidc-provider';
import type { Config } from './config/index.ts';
import { resolveSecretsKey } from './config/secrets-key.ts';
import { type Database, openDatabase } from './db/database.ts';
import { migrate } from './db/migrator.ts';
import { createClientRepository } from './db/repositories/clients.ts';
import { createOidcPayloadRepository } from './db/repositories/oidc-payloads.ts';
import { createPasskeyRepository } from './db/repositories/passkeys.ts';
import { createResourceRepository } from './db/repositories/resources.ts';
import { createRoleRepository } from './db/repositories/roles.ts';
import { createSigningKeyRepository } from './db/repositories/signing-keys.ts';
import { createUserRepository } from './db/repositories/users.ts';
import { AppError } from './errors.ts';
import { createAccountRouter } from './http/account/router.ts';
import { createAdminRouter } from './http/admin/router.ts';
import { createHealthRouter } from './http/health.ts';
import { createPasskeyInteraction } from './http/interaction/passkeys.ts';
import { createInteractionRouter } from './http/interaction/router.ts';
import { createCsrf } from './http/middleware/csrf.ts';
import { createPages } from './http/pages.ts';
import { createPasskeyPages } from './http/passkey-pages.ts';
import { createHttp } from './http/routes.ts';
import type { Logger } from './logger.ts';
import { createAdapterFactory } from './oidc/adapter.ts';
import { createInteractionPolicy } from './oidc/interaction-policy.ts';
import { jwtAccessTokenSupport } from './oidc/jwt-access-tokens.ts';
import { createMtls } from './oidc/mtls.ts';
import { createProvider } from './oidc/provider.ts';
import { createInitialAccessTokenUses, REGISTRATION_POLICY } from './oidc/registration.ts';
import { createSecurity } from './security.ts';
import { type AccessTokenService, createAccessTokenService } from './services/access-tokens.ts';
import { createAccountChangeService, createAccountNotifier } from './services/account-changes.ts';
import { type AccountService, createAccountService } from './services/accounts.ts';
import { ADMIN_SCOPES } from './services/admin-delegation.ts';
import { auditingLogger } from './services/audit-log.ts';
import { createMfaDecision } from './services/authentication-policy.ts';
import { builtInClientIds, ensureBuiltInClients } from './services/builtin-clients.ts';
import { createCacheBus } from './services/cache.ts';
import { type ClientService, createClientService } from './services/clients.ts';
import { createKeyService, type KeyService, type Keystore } from './services/keys.ts';
import { createPasskeyService } from './services/passkeys.ts';
import { createPasswordService } from './services/passwords.ts';
import { createPendingSignIns } from './services/pending-signins.ts';
import { createResourceService, type ResourceService } from './services/resources.ts';
import { createRoleService, type RoleService } from './services/roles.ts';
import { deriveKeys } from './services/secrets.ts';
import type { SecurityEventService } from './services/security-events.ts';
import { createChallengeStore } from './services/webauthn-challenges.ts';

export interface App {
  /** the request listener: oidc-provider's Koa app with our routes in front (rebuilt when keys rotate) */
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  readonly issuer: string;
  readonly db: Database;
  readonly services: {
    readonly clients: ClientService;
    readonly resources: ResourceService;
    readonly keys: KeyService;
    readonly accessTokens: AccessTokenService;
    readonly accounts: AccountService;
    readonly roles: RoleService;
    readonly events: SecurityEventService;
  };
  provider(): Provider;
  close(): Promise<void>;
}

const VIEWS_DIR = fileURLToPath(new URL('../views', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

/** Admin tokens are short-lived: five minutes. */
const ADMIN_TOKEN_TTL = 300;

/** Opens the database, applies migrations and signing keys, and wires the services (no side effects beyond those). */
export async function openCore(config: Config, log: Logger) {
  const secrets = deriveKeys(resolveSecretsKey(config, log));
  const db = await openDatabase(config, log);
  try {
    const applied = await migrate(db, log);
    log.info(
      { applied },
      applied.length ? `applied ${applied.length} database migration(s)` : 'database schema up to date',
    );
    const keys = createKeyService({
      repo: createSigningKeyRepository(db.prisma),
      encryptionKey: secrets.keyEncryption,
      log,
    });
    await keys.ensure();
    return { db, secrets, keys };
  } catch (err) {
    await db.close();
    throw err;
  }
}

/** The composition root: database -> repositories -> services -> provider -> Koa. */
export async function createApp(config: Config, issuer: string, log: Logger): Promise<App> {
  const { db, secrets, keys } = await openCore(config, log);
  const payloads = createOidcPayloadRepository(db.prisma);
  const bus = createCacheBus(db);
  const timers: NodeJS.Timeout[] = [];
  let closeSecurity: () => Promise<void> = async () => {};
  try {
    await bus.start();
    let keystore: Keystore = await keys.load();
    const adminAudience = `${issuer}/admin`;

    let provider: Provider | undefined;
    const current = () => {
      if (!provider) throw new Error('provider not ready');
      return provider;
    };

    const resources = createResourceService({
      repo: createResourceRepository(db.prisma),
      bus,
      builtIn: { identifier: adminAudience, scopes: ADMIN_SCOPES, accessTokenTtl: ADMIN_TOKEN_TTL, rolesClaim: false },
    });
    const clients = createClientService({
      repo: createClientRepository(db.prisma),
      bus,
      secretKey: secrets.clientSecretHmac,
      log,
      async validate(metadata) {
        try {
          await current().Client.validate(metadata as never);
        } catch (err) {
          const e = err as { error?: string; error_description?: string };
          if (e.error === 'invalid_client_metadata' || e.error === 'invalid_redirect_uri') {
            throw new AppError(e.error, 400, e.error_description ?? e.error);
          }
          throw err;
        }
      },
    });
    const roles = createRoleService({ repo: createRoleRepository(db.prisma), bus });
    const initialAccessTokens = createInitialAccessTokenUses(payloads);
    const adapter = createAdapterFactory({ payloads, clients, initialAccessTokens });
    // OWASP's argon2id parameters; cheap ones in tests only (NODE_ENV=test)
    const passwords = createPasswordService(
      config.env === 'test' ? { params: { memoryCost: 1024, timeCost: 1, parallelism: 1 } } : {},
    );
    const pages = createPages({ viewsDir: VIEWS_DIR, issuer });
    // rate limits, lockout, the security event log and metrics (issue 6)
    const security = await createSecurity({ config, issuer, db, log, digestKey: secrets.eventDigest });
    closeSecurity = security.close;
    const accounts = createAccountService({
      users: createUserRepository(db.prisma),
      passwords,
      log,
      // a password change or a disabled account ends the sessions and tokens kept here
      payloads,
      events: security.events,
      bus,
    });
    // introspection and the admin API ask whether a token's client and user still stand
    const accessTokens = createAccessTokenService({
      issuer,
      keystore: () => keystore,
      payloads,
      standing: {
        clientCreatedAt: async (id) => (await clients.resolve(id))?.createdAt,
        userTokenValid: (id, issuedAt) => accounts.tokenStillValid(id, issuedAt),
      },
    });
    // passkeys (issue 4): WebAuthn with challenges kept next to the provider's models
    // the passkey ceremonies log their security events; these lines also go to the event log
    const audited = auditingLogger(log, security.events, security.metrics);
    const passkeyRepo = createPasskeyRepository(db.prisma);
    // a new passkey is announced to its owner (on /account today; a mailer would hook in there)
    const notifier = createAccountNotifier({ payloads, log });
    const passkeys = createPasskeyService({
      issuer,
      rpName: 'Identity',
      repo: passkeyRepo,
      challenges: createChallengeStore({ payloads }),
      users: accounts,
      log: audited,
      notifier,
    });
    // with a passkey, changing the ways to sign in needs a passkey proof, not the password alone
    const changes = createAccountChangeService({ passkeys, payloads, log: audited });
    const needsMfa = createMfaDecision({
      global: config.mfaRequired,
      userRequires: (id) => passkeyRepo.mfaRequired(id),
      hasSecondFactor: async (id) => (await passkeyRepo.listByUser(id)).length > 0,
    });
    const interactionPolicy = createInteractionPolicy(needsMfa);

    // RFC 8705: client certificates from our own TLS socket, or from the trusted proxy's header
    const mtls = createMtls({
      clientCaFile: config.clientCaFile,
      tlsRequestsCertificates: config.tls?.clientCaFile !== undefined,
      forwardedHeader: config.clientCertHeader,
    });
    const admin = createAdminRouter({
      issuer,
      version: VERSION,
      registration: config.registrationEnabled
        ? {
            async issueInitialAccessToken(expiresIn, uses) {
              const iat = new (current().InitialAccessToken)({ expiresIn, policies: [REGISTRATION_POLICY] });
              const token = await iat.save();
              await initialAccessTokens.grant(iat.jti, uses, expiresIn);
              return { token, expiresAt: new Date(Date.now() + expiresIn * 1000) };
            },
          }
        : undefined,
      audience: adminAudience,
      builtInClientIds: builtInClientIds(config.adminClient),
      security: security.adminDeps(accounts),
      clientCertificateHeader: config.clientCertHeader,
      accessTokens,
      clients,
      resources,
      accounts,
      roles,
      passkeys,
      keys: {
        list: () => keys.list(),
        async rotate() {
          const kids = await keys.rotate();
          await bus.publish({ topic: 'keys' });
          return kids;
        },
      },
    });
    const passkeyPages = createPasskeyPages(pages);
    const csrf = createCsrf(secrets.csrf);
    const passkeyInteraction = createPasskeyInteraction({
      provider: current,
      passkeys,
      accounts,
      pending: createPendingSignIns({ payloads }),
      needsMfa,
      csrf,
      pages,
      passkeyPages,
      log: audited,
    });
    const http = createHttp({
      log,
      security,
      staticRoot: `${VIEWS_DIR}/static`,
      health: createHealthRouter(() => db.ping()),
      admin,
      badInputPage: (ctx, detail) =>
        pages.error(ctx, {
          status: 400,
          title: 'This request could not be read',
          message: 'It contains characters that are not allowed. Go back and try again.',
          code: 'invalid_request',
          detail,
        }),
      pages: [
        { prefixes: ['/interaction'], router: passkeyInteraction.router },
        {
          prefixes: ['/account'],
          router: createAccountRouter({
            issuer,
            provider: current,
            accounts,
            passkeys,
            changes,
            notifier,
            csrf,
            pages,
            passkeyPages,
            log: audited,
          }),
        },
        {
          prefixes: ['/interaction'],
          router: createInteractionRouter({
            provider: current,
            accounts,
            pages,
            csrf,
            log,
            passkeys: true,
            passkeyHooks: passkeyInteraction.hooks,
            signin: security.signin(pages),
          }),
        },
      ],
    });
    const build = () => {
      const created = createProvider({
        issuer,
        keystore,
        cookieKeys: secrets.cookieKeys,
        clients,
        resources,
        roles,
        accessTokens,
        adapter,
        trustProxy: config.trustProxy,
        log,
        registrationEnabled: config.registrationEnabled,
        mtls,
        dpopNonceSecret: secrets.dpopNonce,
        findAccount: (_ctx, sub) => accounts.findAccount(sub),
        interactionPolicy,
        pages,
      });
      // TRUST_PROXY: that many proxies in front of us, each appending the address it saw to
      // X-Forwarded-For. Koa would take the leftmost entry, which the client wrote itself, so
      // every rate limit and lockout per address would count whatever the client claims. With
      // `maxIpsCount` it keeps only the last entries and takes the first of those: the client's
      // address as our outermost proxy (a CDN in front of a load balancer) saw it.
      created.maxIpsCount = Math.max(config.proxyHops, 1);
      const built = security.observe(http.install(created));
      // innermost, next to oidc-provider's routes: the request log, the metrics and the limits
      // around it see the answer it gives, not the refusal it replaces
      built.use(jwtAccessTokenSupport(accessTokens));
      return built;
    };
    provider = build();
    let providerHandler = provider.callback();

    await ensureBuiltInClients(clients, {
      issuer,
      admin: config.adminClient,
      adminAudience,
      adminScopes: ADMIN_SCOPES,
    });

    // another instance (or the CLI) rotated the keys: sign with the new ones from now on
    bus.subscribe((event) => {
      if (event !== 'all' && event.topic !== 'keys') return;
      keys
        .load()
        .then((loaded) => {
          if (JSON.stringify(loaded.keys) === JSON.stringify(keystore.keys)) return;
          keystore = loaded;
          provider = build();
          providerHandler = provider.callback();
          log.info({ kids: loaded.keys.map((k) => k.kid) }, 'signing keys reloaded');
        })
        .catch((err: unknown) => log.error({ err }, 'reloading signing keys failed'));
    });

    const purge = async () => {
      try {
        let removed = 0;
        for (let batch = await payloads.purgeExpired(new Date(), 1000); batch > 0; ) {
          removed += batch;
          batch = batch === 1000 ? await payloads.purgeExpired(new Date(), 1000) : 0;
        }
        const keysRemoved = await keys.deleteExpired();
        await security.purge();
        if (removed || keysRemoved) log.debug({ removed, keysRemoved }, 'expired rows purged');
      } catch (err) {
        log.warn({ err }, 'purge of expired rows failed');
      }
    };
    timers.push(setInterval(purge, config.purgeIntervalSeconds * 1000).unref());

    return {
      callback: () => (req, res) => providerHandler(req, res),
      issuer,
      db,
      services: { clients, resources, keys, accessTokens, accounts, roles, events: security.events },
      provider: current,
      async close() {
        for (const timer of timers) clearInterval(timer);
        await security.close();
        await db.close();
      },
    };
  } catch (err) {
    for (const timer of timers) clearInterval(timer);
    await closeSecurity().catch(() => {});
    await db.close();
    throw err;
  }
}
