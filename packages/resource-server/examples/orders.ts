/**
 * An example API protected by this issuer's tokens: `GET /orders` needs `orders:read`,
 * `POST /orders` needs `orders:write`. Run it next to the server:
 *
 *   ISSUER=http://localhost:3000 AUDIENCE=https://orders.example PORT=4000 \
 *     PUBLIC_URL=http://localhost:4000 node --experimental-strip-types packages/resource-server/examples/orders.ts
 *
 * It reads its own environment because it is a separate program, not part of the server.
 */
import Koa from 'koa';
import { koaAccessToken, type TokenCheckOptions, type VerifiedAccessToken } from '../src/index.ts';

export function createExampleService(options: Omit<TokenCheckOptions, 'scopes'>): Koa {
  const app = new Koa();
  const orders: { id: number; item: string; by: string }[] = [{ id: 1, item: 'coffee', by: 'seed' }];
  // every route needs a valid token for this audience; each route then names its scope
  app.use(koaAccessToken(options));
  app.use(async (ctx) => {
    const token = ctx.state.accessToken as VerifiedAccessToken;
    const need = ctx.method === 'GET' ? 'orders:read' : 'orders:write';
    if (ctx.path !== '/orders' || (ctx.method !== 'GET' && ctx.method !== 'POST')) {
      ctx.status = 404;
      ctx.body = { error: 'not_found' };
      return;
    }
    if (!token.scopes.has(need)) {
      ctx.status = 403;
      ctx.set(
        'WWW-Authenticate',
        `${token.binding === 'dpop' ? 'DPoP' : 'Bearer'} error="insufficient_scope", scope="${need}"`,
      );
      ctx.body = { error: 'insufficient_scope', error_description: `this needs the scope ${need}` };
      return;
    }
    if (ctx.method === 'POST') {
      const order = { id: orders.length + 1, item: 'tea', by: token.claims.sub };
      orders.push(order);
      ctx.status = 201;
      ctx.body = order;
      return;
    }
    ctx.body = { orders, caller: { sub: token.claims.sub, client_id: token.claims.client_id, binding: token.binding } };
  });
  return app;
}

if (import.meta.main) {
  const issuer = process.env.ISSUER ?? 'http://localhost:3000';
  const audience = process.env.AUDIENCE ?? 'https://orders.example';
  const port = Number(process.env.PORT ?? 4000);
  // RFC 9449 §4.3: a DPoP proof's htu is checked against the URL clients call, which is
  // configured, never taken from the request's Host header (any client can write that)
  const publicUrl = process.env.PUBLIC_URL ?? `http://localhost:${port}`;
  const requestUrl = (req: { url?: string | undefined }) => new URL(req.url ?? '/', publicUrl).href;
  createExampleService({ issuer, audience, requestUrl }).listen(port, () => {
    process.stdout.write(
      `orders example on http://localhost:${port}/orders (issuer ${issuer}, audience ${audience})\n`,
    );
  });
}
