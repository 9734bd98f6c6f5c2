import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Middleware } from 'koa';
import type { Config } from '../config/index.ts';
import type { Database } from '../db/database.ts';
import { createAccountRouter } from '../http/account/router.ts';
import { createAdminRouter } from '../http/admin/router.ts';
import { brandAssets } from '../http/brand-assets.ts';
import { createConsoleRouter } from '../http/console/router.ts';
import { createDevicePages } from '../http/device-pages.ts';
import { createHealthRouter } from '../http/health.ts';
import { createInteractionRouter } from '../http/interaction/router.ts';
import { createCsrf } from '../http/middleware/csrf.ts';
import { durableEvents } from '../http/middleware/durable-events.ts';
import { inputLimits } from '../http/middleware/hardening.ts';
import { issuerOrigin } from '../http/middleware/issuer-origin.ts';
import { requestMetrics } from '../http/middleware/metrics.ts';
import { rateLimitByAddress } from '../http/middleware/rate-limit.ts';
import { createPages } from '../http/pages.ts';
import { createPasskeyPages } from '../http/passkey-pages.ts';
import { createHttp } from '../http/routes.ts';
import { createSelfServiceRouter } from '../http/self-service/router.ts';
import type { Logger } from '../logger.ts';
import { ADMIN_SCOPES } from '../services/admin-delegation.ts';
import { builtInClientIds } from '../services/builtin-clients.ts';
import type { RouteLabels } from '../services/metrics.ts';
import type { ReplayKeyRepository } from '../services/ports/replay-keys.ts';
import type { DerivedKeys } from '../services/secrets.ts';
import type { Lifetime } from './lifetime.ts';
import { serveMetrics } from './metrics-port.ts';
import type { createOidc, ProviderHolder } from './provider.ts';
import type { Services } from './services.ts';

const VIEWS_DIR = fileURLToPath(new URL('../../views', import.meta.url));
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface HttpWiringDeps {
  config: Config;
  issuer: string;
  log: Logger;
  db: Database;
  secrets: DerivedKeys;
  services: Services;
  holder: ProviderHolder;
  oidc: Pick<ReturnType<typeof createOidc>, 'registration'>;
  lifetime: Lifetime;
  /** single-use values every instance sees (PostgreSQL) */
  replay: ReplayKeyRepository;
  /** a span per request, when OpenTelemetry traces are on */
  tracing: ((routeLabels: RouteLabels) => Middleware) | undefined;
}

/** Our HTTP surface: the pages, the admin API, health, metrics and the edge middleware, to put in front of the provider. */
export async function createHttpSurface(deps: HttpWiringDeps) {
  const { config, issuer, log, secrets, services: s, holder } = deps;
  const provider = holder.current;
  const brand = brandAssets(config.brand);
  const pages = createPages({
    viewsDir: VIEWS_DIR,
    catalogs: s.catalogs,
    siteName: config.brand.productName,
    brand: brand.links,
    issuer,
    selfService: { passwordReset: s.passwordReset.available, signup: s.emailVerification.signupEnabled },
  });
  const passkeyPages = createPasskeyPages(pages);
  // RFC 8628: the code entry, confirmation and success pages, and the limit on wrong codes
  const device = createDevicePages({ pages, guard: s.deviceGuard, events: s.events });
  const csrf = createCsrf(secrets.csrf);
  const admin = createAdminRouter({
    issuer,
    version: VERSION,
    registration: deps.oidc.registration,
    audience: s.adminAudience,
    builtInClientIds: builtInClientIds(config.adminClient),
    security: {
      bruteForce: s.protection.bruteForce,
      users: s.accounts,
      events: s.events,
      secondFactors: s.secondFactors,
    },
    clientCertificateHeader: config.clientCertHeader,
    replay: deps.replay,
    accessTokens: s.accessTokens,
    clients: s.clients,
    clientSecrets: s.clientSecrets,
    federation: s.federation,
    resources: s.resources,
    accounts: s.accounts,
    roles: s.roles,
    passkeys: s.passkeys,
    passwordReset: s.passwordReset,
    sessions: s.sessions,
    webhooks: s.webhooks,
    keys: {
      list: () => s.keys.list(),
      async rotate(options) {
        const rotation = await s.keys.rotate(options);
        await s.bus.publish({ topic: 'keys' });
        return rotation;
      },
    },
  });
  const account = createAccountRouter({
    issuer,
    provider,
    accounts: s.accounts,
    passkeys: s.passkeys,
    changes: s.changes,
    secondFactors: s.secondFactors,
    notifier: s.notifier,
    sessions: s.sessions,
    passwordChange: s.passwordChange,
    csrf,
    pages,
    passkeyPages,
    emailVerification: s.emailVerification,
  });
  const selfService = createSelfServiceRouter({
    passwordReset: s.passwordReset,
    emailVerification: s.emailVerification,
    csrf,
    pages,
  });
  // the admin console acts through the admin API above, with the signed-in person's own token
  const adminConsole = createConsoleRouter({
    issuer,
    adminAudience: s.adminAudience,
    adminScopes: ADMIN_SCOPES,
    sessionKey: secrets.consoleSession,
    clientSecret: secrets.consoleClientSecret,
    csrf,
    adminRoutes: () => admin.stack.map((layer) => ({ path: String(layer.path), methods: layer.methods })),
    log,
  });
  const signin = createInteractionRouter({
    provider,
    flow: s.signin,
    pages,
    passkeyPages,
    csrf,
    log,
    accounts: s.accounts,
  });
  const adminLimit = rateLimitByAddress(s.protection, 'admin');
  const http = createHttp({
    log,
    edge: [
      // the request's span covers everything after it
      ...(deps.tracing ? [deps.tracing(s.routeLabels)] : []),
      // first: every absolute URL built after this derives from ISSUER, not from the request
      issuerOrigin(issuer),
      requestMetrics(s.metrics, s.routeLabels),
      inputLimits({ https: issuer.startsWith('https:') }),
      ...(await serveMetrics(config, s.metrics, log, deps.lifetime)),
      // an answer leaves once the admin change, sign-in or lockout it reports is stored
      durableEvents(s.events),
    ],
    adminRateLimit: (ctx, next) =>
      ctx.path === '/admin' || ctx.path.startsWith('/admin/') ? adminLimit(ctx, next) : next(),
    staticRoot: `${VIEWS_DIR}/static`,
    brandAssets: brand.middleware,
    health: createHealthRouter(() => deps.db.ping(), issuer),
    admin,
    errorPage: pages.appError,
    badInputPage: (ctx, detail) =>
      pages.error(ctx, {
        status: 400,
        text: 'error.bad_input',
        code: 'invalid_request',
        detail,
      }),
    pages: [
      { prefixes: ['/interaction'], router: signin },
      { prefixes: ['/account'], router: account },
      { prefixes: ['/console'], router: adminConsole },
      { prefixes: ['/password', '/signup', '/email'], router: selfService },
      { prefixes: ['/device'], router: device.router },
    ],
  });
  return { pages: { ...pages, device: device.sources }, install: http.install };
}
