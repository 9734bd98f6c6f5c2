import { readFileSync } from 'node:fs';
import type { Middleware } from 'koa';
import type { Config } from '../config/index.ts';
import type { Database } from '../db/database.ts';
import type { PrismaClient } from '../db/generated/client.ts';
import type { Logger } from '../logger.ts';
import type { RouteLabels } from '../services/metrics.ts';
import type { Lifetime } from './lifetime.ts';

/** How long one export may take: a collector that hangs holds nothing longer. */
const EXPORT_TIMEOUT_MS = 5000;

export interface Telemetry {
  /** the request spans: the first middleware at the edge */
  requests(routeLabels: RouteLabels): Middleware;
  /** the database with a client span per Prisma operation (its name only: never SQL or values) */
  traced(db: Database): Database;
}

/**
 * OpenTelemetry traces when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise undefined, and the
 * tracing code is never imported: a server without it loads, wraps and measures nothing.
 */
export async function openTelemetry(config: Config, log: Logger, lifetime: Lifetime): Promise<Telemetry | undefined> {
  const url = config.telemetry.tracesUrl;
  if (url === undefined) return undefined;
  const [{ createTracer }, { traceRequests }] = await Promise.all([
    import('../services/tracing.ts'),
    import('../http/middleware/tracing.ts'),
  ]);
  const version = (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  const tracer = createTracer({
    serviceName: config.telemetry.serviceName,
    version,
    log,
    // OTLP/HTTP with the JSON encoding; the collector is the operator's, so no address rule applies
    async send(body) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(EXPORT_TIMEOUT_MS),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`the collector answered ${res.status}`);
    },
  });
  lifetime.defer(() => tracer.close());
  log.info({ url }, 'OpenTelemetry traces on');
  return {
    requests: (routeLabels) => traceRequests(tracer, routeLabels),
    traced(db) {
      const prisma = db.prisma.$extends({
        query: {
          async $allOperations({ model, operation, args, query }) {
            const span = tracer.start(model ? `${model}.${operation}` : operation, { kind: 'client' });
            span.setAttribute('db.system.name', 'postgresql');
            span.setAttribute('db.operation.name', operation);
            span.setAttribute('db.collection.name', model);
            try {
              return await query(args);
            } catch (err) {
              span.fail();
              throw err;
            } finally {
              span.end();
            }
          },
        },
      });
      return { ...db, prisma: prisma as unknown as PrismaClient };
    },
  };
}
