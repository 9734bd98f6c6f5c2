import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from '../logger.ts';
import type { Security } from '../security.ts';
import { errorHandler } from './middleware/errors.ts';
import { requestContext } from './middleware/request-context.ts';
import { securityHeaders, serveStatic } from './middleware/security-headers.ts';
import { vendorScripts } from './vendor-scripts.ts';

/** A router that handles only paths under these prefixes. */
export interface Mounted {
  readonly prefixes: readonly string[];
  readonly router: Router;
}

// a router's middleware expects the params it adds itself; for Koa it is any middleware
const routesOf = (router: Router) => router.routes() as unknown as Middleware;

export interface HttpDeps {
  log: Logger;
  security: Security;
  staticRoot: string;
  health: Router;
  admin: Router;
  /** the pages: interaction, passkey and account routers */
  pages: readonly Mounted[];
}

/**
 * Runs `middleware` only for paths under `prefixes`: a request for another path (the token
 * endpoint above all) pays one string comparison instead of a router's route matching.
 */
export function onlyUnder(prefixes: readonly string[], middleware: Middleware): Middleware {
  return (ctx: Context, next: Next) =>
    prefixes.some((p) => ctx.path === p || ctx.path.startsWith(p.endsWith('/') ? p : `${p}/`))
      ? middleware(ctx, next)
      : next();
}

/**
 * Our HTTP surface, installed in front of oidc-provider's own routes in the provider's Koa app
 * (as oidc-provider's own examples do). One Koa application, one context per request: an
 * outer Koa app around the provider would build every request's context twice, and the token
 * endpoint is the hot path (DEVELOPERS: within 10% of a bare oidc-provider).
 */
export function createHttp(deps: HttpDeps) {
  const { security } = deps;
  const admin = routesOf(deps.admin);
  const chain: Middleware[] = [
    requestContext(deps.log),
    ...security.edge,
    // before everything that renders: oidc-provider adds its form_post script hash to the CSP it finds set
    securityHeaders(),
    onlyUnder(['/static'], vendorScripts()),
    onlyUnder(['/static'], serveStatic({ root: deps.staticRoot })),
    onlyUnder(['/healthz', '/readyz'], routesOf(deps.health)),
    onlyUnder(['/admin'], (ctx, next) => errorHandler(ctx, () => security.adminRateLimit(ctx, () => admin(ctx, next)))),
    ...deps.pages.map((page) => onlyUnder(page.prefixes, routesOf(page.router))),
  ];
  return {
    /** puts our middleware in front of oidc-provider's routes; called for every provider built */
    install(provider: Provider): Provider {
      for (const middleware of chain) provider.use(middleware);
      return provider;
    },
  };
}
