import Router from '@koa/router';
import { requestLog } from './middleware/request-context.ts';

/**
 * /healthz: the process answers. /readyz: it can reach its database. `/`: where to go from
 * here, the account page for a person, the discovery document and references for a program.
 */
export function createHealthRouter(ping: () => Promise<void>, issuer: string): Router {
  const router = new Router();
  router.get('/', (ctx) => {
    ctx.vary('Accept');
    ctx.set('Cache-Control', 'no-store');
    // a browser asks for HTML first; curl and HTTP libraries (*/* or JSON) get the JSON
    if (ctx.accepts('json', 'html') === 'html') {
      ctx.redirect(`${issuer}/account`);
      return;
    }
    ctx.body = {
      issuer,
      discovery: `${issuer}/.well-known/openid-configuration`,
      account: `${issuer}/account`,
      admin_api: `${issuer}/admin/openapi.json`,
      docs: `${issuer}/admin/docs`,
    };
  });
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      await Promise.race([
        ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref()),
      ]);
      ctx.body = { status: 'ready' };
    } catch (err) {
      requestLog(ctx)?.warn({ err }, 'readiness check failed');
      ctx.status = 503;
      ctx.body = { status: 'unavailable', reason: 'database unreachable' };
    }
  });
  return router;
}
