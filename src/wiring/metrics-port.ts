import { createServer } from 'node:http';
import Koa, { type Middleware } from 'koa';
import type { Config } from '../config/index.ts';
import { metricsEndpoint } from '../http/middleware/metrics.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../services/metrics.ts';
import type { Lifetime } from './lifetime.ts';

/**
 * Where /metrics is served: on METRICS_PORT, a server of its own that closes with the lifetime,
 * or else on the main port (the middleware returned, to put at the edge). In production the main
 * port's /metrics (client ids, traffic) needs METRICS_TOKEN; without it there is none.
 */
export async function serveMetrics(
  config: Config,
  metrics: Metrics,
  log: Logger,
  lifetime: Lifetime,
): Promise<Middleware[]> {
  const { metricsPort, metricsToken } = config.limits;
  if (metricsPort === undefined) {
    if (config.env === 'production' && metricsToken === undefined) {
      log.warn('/metrics is off: in production set METRICS_PORT (a port of its own) or METRICS_TOKEN (a bearer token)');
      return [];
    }
    return [metricsEndpoint(metrics, { token: metricsToken })];
  }
  const app = new Koa();
  app.use(metricsEndpoint(metrics, { token: metricsToken }));
  const server = createServer(app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(metricsPort, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  lifetime.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  log.info({ address: server.address() }, 'metrics listening');
  return [];
}
