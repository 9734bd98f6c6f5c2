import type { Middleware } from 'koa';

/**
 * Every absolute URL we and oidc-provider build (discovery, jwks_uri, registration_client_uri,
 * redirects, form actions, end-session, mTLS aliases, the DPoP `htu` the admin API expects)
 * comes from the request's protocol and host. With ISSUER fixed, those are the issuer's, never
 * what the request says: not its `Host` header, not `X-Forwarded-Host`/`-Proto` (even with
 * TRUST_PROXY, which trusts the proxy for client addresses, not for our own name), and not an
 * absolute-form request target (`GET http://evil.example/... HTTP/1.1`). A client told that
 * the token endpoint is `http://evil.example/token` would send its secret there.
 */
export function issuerOrigin(issuer: string): Middleware {
  const { protocol, host, hostname, origin } = new URL(issuer);
  const fixed = {
    protocol: { value: protocol.slice(0, -1) },
    host: { value: host },
    hostname: { value: hostname },
  };
  // Set once on the application's request prototype (each request's `ctx.request` inherits
  // from it), not on every request: defining properties per request cost a few microseconds and
  // gave each request object a shape of its own.
  const fixedPrototypes = new WeakSet<object>();
  return (ctx, next) => {
    // own properties shadow Koa's getters (ctx.host, ctx.protocol, ctx.secure, ctx.href and
    // ctx.URL all read these)
    const prototype = Object.getPrototypeOf(ctx.request) as object;
    if (!fixedPrototypes.has(prototype)) {
      Object.defineProperties(prototype, fixed);
      fixedPrototypes.add(prototype);
    }
    const target = ctx.request.originalUrl;
    if (!target.startsWith('/')) {
      const parsed = URL.parse(target);
      Object.defineProperty(ctx.request, 'href', {
        value: `${origin}${parsed ? `${parsed.pathname}${parsed.search}` : '/'}`,
      });
    }
    return next();
  };
}
