import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from '../logger.ts';
import { canonicalPaths, templateOf } from './middleware/canonical-path.ts';
import { cleanInput } from './middleware/clean-input.ts';
import { type ErrorPage, errorHandler, writeError } from './middleware/errors.ts';
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
  /** first after the request context: request metrics, input limits (and HSTS), /metrics on this port */
  edge: readonly Middleware[];
  /** the admin API's limit per address; runs inside its error handler */
  adminRateLimit: Middleware;
  staticRoot: string;
  /** the brand's stylesheet and logo under /static (./brand-assets.ts) */
  brandAssets: Middleware;
  health: Router;
  admin: Router;
  /** the pages: interaction, passkey and account routers */
  pages: readonly Mounted[];
  /** the 400 page for a browser whose request carries text no endpoint accepts */
  badInputPage(ctx: Context, message: string): void;
  /** the page for an error no route handled, for a browser asking for a page */
  errorPage: ErrorPage;
}

/** Runs middlewares one after another, as Koa would (each one's `next` is the following one). */
function sequence(middlewares: readonly Middleware[]): Middleware {
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
 * endpoint is the hot path.
 */
export function createHttp(deps: HttpDeps) {
  const health = routesOf(deps.health);

  // One dispatcher instead of a guard per router: a request for a path none of them serves
  // (the token endpoint above all) passes through with one lookup of its first segment.
  const bySegment = new Map<string, Middleware>([
    ['static', sequence([vendorScripts(), deps.brandAssets, serveStatic({ root: deps.staticRoot })])],
    // `/` (the empty first segment): where to go from here
    ['', health],
    ['healthz', health],
    ['readyz', health],
    // the admin API's errors are JSON; its rate limit is per address
    ['admin', sequence([errorHandler, deps.adminRateLimit, routesOf(deps.admin)])],
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

  // every route we serve, ours and oidc-provider's, for the one-spelling rule (canonical-path.ts)
  const ownPaths = [deps.health, deps.admin, ...deps.pages.map((page) => page.router)].flatMap((router) =>
    router.stack.flatMap((layer) => (typeof layer.path === 'string' ? [layer.path] : [])),
  );
  let templates = [...ownPaths, '/static', '/metrics'].map(templateOf);

  // what no route answered itself (a page whose database is out of reach: 503) goes through the
  // one error writer, not Koa's plain-text fallback
  const unhandled: Middleware = async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      writeError(ctx, err, deps.errorPage);
    }
  };

  const chain: Middleware[] = [
    requestContext(deps.log),
    ...deps.edge,
    unhandled,
    // before everything that renders: oidc-provider adds its form_post script hash to the CSP it finds set
    securityHeaders(),
    // NUL, lone surrogates, malformed percent-encoding: a 400 here, before anything stores them
    cleanInput({ page: deps.badInputPage }),
    // before any lookup keyed on the path: the dispatcher below, the admin limit, the token limits
    canonicalPaths(() => templates),
    dispatch,
  ];
  return {
    /** puts our middleware in front of oidc-provider's routes; called for every provider built */
    install(provider: Provider): Provider {
      templates = [...ownPaths, '/static', '/metrics', ...providerPaths(provider)].map(templateOf);
      for (const middleware of chain) provider.use(middleware);
      return provider;
    },
  };
}

/** oidc-provider's routes (the ones it serves with these features), as templates. */
function providerPaths(provider: Provider): string[] {
  const paths = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'];
  const path = (name: string) => {
    try {
      return provider.pathFor(name);
    } catch {
      return undefined; // a route of a feature that is off
    }
  };
  for (const name of [
    'authorization',
    'userinfo',
    'token',
    'jwks',
    'registration',
    'revocation',
    'introspection',
    'end_session',
    'end_session_confirm',
    'end_session_success',
    'device_authorization',
    'code_verification',
    'pushed_authorization_request',
    'backchannel_authentication',
    'challenge',
    'credential',
  ]) {
    const found = path(name);
    if (found) paths.push(found);
  }
  // routes with a parameter: the authorization resume, the RFC 7592 client, the device resume
  for (const [name, param] of [
    ['authorization', ':uid'],
    ['registration', ':clientId'],
    ['code_verification', ':uid'],
  ] as const) {
    const found = path(name);
    if (found) paths.push(`${found}/${param}`);
  }
  return paths;
}
