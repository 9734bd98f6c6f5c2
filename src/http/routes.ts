import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from '../logger.ts';
import type { Security } from '../security.ts';
import { cleanInput } from './middleware/clean-input.ts';
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
  /** the 400 page for a browser whose request carries text no endpoint accepts */
  badInputPage(ctx: Context, message: string): void;
}

/** Runs middlewares one after another, as Koa would (each one's `next` is the following one). */
export function sequence(middlewares: readonly Middleware[]): Middleware {
  return (ctx, next) => {
    const run = (i: number): Promise<unknown> => {
      const middleware = middlewares[i];
      return middleware ? Promise.resolve(middleware(ctx, () => run(i + 1))) : next();
    };
    return run(0);
  };
}

/**
 * Our HTTP surface, installed in front of oidc-provider's own routes in the provider's Koa app
 * (as oidc-provider's own examples do). One Koa application, one context per request: an
 * outer Koa app around the provider would build every request's context twice, and the token
 * endpoint is the hot path (DEVELOPERS: within 10% of a bare oidc-provider).
 */
export function createHttp(deps: HttpDeps) {
  const { security } = deps;
  const health = routesOf(deps.health);

  // One dispatcher instead of a guard per router: a request for a path none of them serves
  // (the token endpoint above all) passes through with one lookup of its first segment.
  const bySegment = new Map<string, Middleware>([
    ['static', sequence([vendorScripts(), serveStatic({ root: deps.staticRoot })])],
    ['healthz', health],
    ['readyz', health],
    // the admin API's errors are JSON; its rate limit is per address
    ['admin', sequence([errorHandler, security.adminRateLimit, routesOf(deps.admin)])],
  ]);
  const firstSegment = (path: string) => path.split('/')[1] ?? '';
  for (const segment of new Set(deps.pages.flatMap((page) => page.prefixes.map(firstSegment)))) {
    const routers = deps.pages.filter((page) => page.prefixes.some((prefix) => firstSegment(prefix) === segment));
    bySegment.set(segment, sequence(routers.map((page) => routesOf(page.router))));
  }
  const dispatch: Middleware = (ctx, next) => {
    const end = ctx.path.indexOf('/', 1);
    const handler = bySegment.get(ctx.path.slice(1, end === -1 ? undefined : end));
    return handler ? handler(ctx, next) : next();
  };

  const chain: Middleware[] = [
    requestContext(deps.log),
    ...security.edge,
    // before everything that renders: oidc-provider adds its form_post script hash to the CSP it finds set
    securityHeaders(),
    // NUL, lone surrogates, malformed percent-encoding: a 400 here, before anything stores them
    cleanInput({ page: deps.badInputPage }),
    dispatch,
  ];
  return {
    /** puts our middleware in front of oidc-provider's routes; called for every provider built */
    install(provider: Provider): Provider {
      for (const middleware of chain) provider.use(middleware);
      return provider;
    },
  };
}
