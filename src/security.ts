import { createServer, type Server } from 'node:http';
import Koa, { type Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { Config } from './config/index.ts';
import type { Database } from './db/database.ts';
import { createSecurityEventRepository } from './db/repositories/security-events.ts';
import { createUserRepository } from './db/repositories/users.ts';
import type { LockoutDeps } from './http/admin/lockouts.ts';
import { createSigninProtection, type SigninProtection } from './http/interaction/signin-protection.ts';
import { inputLimits } from './http/middleware/hardening.ts';
import { metricsEndpoint, requestMetrics } from './http/middleware/metrics.ts';
import { rateLimitByAddress } from './http/middleware/rate-limit.ts';
import type { Pages } from './http/pages.ts';
import type { Logger } from './logger.ts';
import { observeProvider } from './oidc/observe.ts';
import { normalizeEmail, normalizeUsername } from './services/accounts.ts';
import { createMetrics, type Metrics, type RouteLabels } from './services/metrics.ts';
import { createProtection, type Protection } from './services/protection.ts';
import { createRateLimitStore } from './services/rate-limits.ts';
import { createSecurityEventService, type SecurityEventService } from './services/security-events.ts';

/**
 * Abuse resistance and observability (issue 6), built as one piece for the composition root:
 * rate limits, lockout, the security event log, surge detection, metrics and input limits.
 * `app.ts` wires each part where it belongs (see the comments at each use there).
 */
export interface Security {
  readonly protection: Protection;
  readonly events: SecurityEventService;
  readonly metrics: Metrics;
  /** request metrics, input limits (and HSTS), and /metrics unless it has its own port */
  readonly edge: readonly Middleware[];
  /** per-address limit on the admin API; runs inside the admin error handler */
  readonly adminRateLimit: Middleware;
  /** wraps a freshly built provider: token and introspection limits, token events, route labels */
  observe(provider: Provider): Provider;
  /** the sign-in pages' limits, lockout and events */
  signin(pages: Pick<Pages, 'error'>): SigninProtection;
  /** what the admin API needs for GET /admin/events, the audit of changes and unlocking */
  adminDeps(users: LockoutDeps['users']): LockoutDeps & { events: SecurityEventService };
  /** removes events past EVENT_RETENTION_DAYS (from the purge timer) */
  purge(): Promise<void>;
  /** writes the queued events, stops the metrics port, closes Redis */
  close(): Promise<void>;
}

export async function createSecurity(deps: {
  config: Config;
  issuer: string;
  db: Database;
  log: Logger;
  /** keys what the counters, the event log and the known-device cookie keep of sign-in names */
  digestKey: Buffer;
}): Promise<Security> {
  const { config, issuer, db, log, digestKey } = deps;
  const limits = config.limits;
  const metrics = createMetrics({ pool: db.poolStats ? () => db.poolStats?.() : undefined });
  const events = createSecurityEventService({
    repo: createSecurityEventRepository(db.prisma),
    log,
    metrics,
    retentionDays: limits.eventRetentionDays,
  });
  const store = await createRateLimitStore({ redisUrl: config.redisUrl, issuer, log });
  const protection = createProtection({ config: limits, store, events, metrics, log, digestKey });
  const routeLabels: RouteLabels = new WeakMap();
  // to name the account a failed sign-in was about, in the event log
  const users = createUserRepository(db.prisma);

  let metricsServer: Server | undefined;
  if (limits.metricsPort !== undefined) {
    const app = new Koa();
    app.use(metricsEndpoint(metrics, { token: limits.metricsToken }));
    metricsServer = createServer(app.callback());
    const server = metricsServer;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(limits.metricsPort, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    log.info({ address: server.address() }, 'metrics listening');
  }

  const edge: Middleware[] = [
    requestMetrics(metrics, routeLabels),
    inputLimits({ https: issuer.startsWith('https:') }),
  ];
  // in production the main port's /metrics (client ids, traffic) needs METRICS_TOKEN
  if (!metricsServer && config.env === 'production' && limits.metricsToken === undefined) {
    log.warn('/metrics is off: in production set METRICS_PORT (a port of its own) or METRICS_TOKEN (a bearer token)');
  } else if (!metricsServer) {
    edge.push(metricsEndpoint(metrics, { token: limits.metricsToken }));
  }
  const admin = rateLimitByAddress(protection, 'admin');

  return {
    protection,
    events,
    metrics,
    edge,
    adminRateLimit: (ctx, next) =>
      ctx.path === '/admin' || ctx.path.startsWith('/admin/') ? admin(ctx, next) : next(),
    observe: (provider) => observeProvider(provider, protection, routeLabels),
    signin: (pages) =>
      createSigninProtection(
        protection,
        pages,
        async (login) => {
          const user = await users.findByLogin(normalizeUsername(login), normalizeEmail(login));
          return user?.id;
        },
        digestKey,
      ),
    adminDeps: (users) => ({ bruteForce: protection.bruteForce, users, events }),
    async purge() {
      try {
        const removed = await events.purge();
        if (removed) log.debug({ removed }, 'old security events purged');
      } catch (err) {
        log.warn({ err }, 'purge of old security events failed');
      }
    },
    async close() {
      await events.close();
      await protection.close();
      if (metricsServer) {
        const server = metricsServer;
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}
