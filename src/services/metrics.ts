import type { IncomingMessage } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The name the provider gave the route of a request, for the metrics' `route` label. */
export type RouteLabels = WeakMap<IncomingMessage, string>;

/** Pool figures of the PostgreSQL connection pool (pg's Pool totals). */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/**
 * The Prometheus metrics of one app. Each app gets its own registry (no prom-client global), so
 * two apps in one process (tests, the bench) never collide.
 *
 * @example
 * const metrics = createMetrics({ pool: () => db.poolStats?.() });
 * metrics.tokensIssued.inc({ grant_type: 'client_credentials', client_id: 'svc' });
 * await metrics.registry.metrics(); // -> the text exposition format
 */
export function createMetrics(
  options: {
    pool?: (() => PoolStats | undefined) | undefined;
    /** the signing keys in use, for `idp_signing_key_age_seconds` */
    signingKeys?: (() => readonly { alg: string; state: string; activatesAt: Date }[]) | undefined;
  } = {},
) {
  const registry = new Registry();
  // process CPU, memory, GC and event-loop lag (nodejs_eventloop_lag_*), prefixed as ours
  collectDefaultMetrics({ register: registry, prefix: 'idp_', eventLoopMonitoringPrecision: 20 });

  const registers = [registry];
  const metrics = {
    registry,
    httpDuration: new Histogram({
      name: 'idp_http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    tokensIssued: new Counter({
      name: 'idp_tokens_issued_total',
      help: 'Token responses by grant type and client',
      labelNames: ['grant_type', 'client_id'] as const,
      registers,
    }),
    signins: new Counter({
      name: 'idp_signins_total',
      help: 'Sign-in attempts by outcome and method',
      labelNames: ['outcome', 'method'] as const,
      registers,
    }),
    rateLimited: new Counter({
      name: 'idp_rate_limited_total',
      help: 'Requests refused by a rate limit or a lockout, by limit',
      labelNames: ['limit'] as const,
      registers,
    }),
    lockouts: new Counter({
      name: 'idp_lockouts_total',
      help: 'Sign-in lockouts applied, by scope (account_ip or account)',
      labelNames: ['scope'] as const,
      registers,
    }),
    surges: new Counter({
      name: 'idp_surges_detected_total',
      help: 'Surges of failures or token requests detected, by kind and what surged',
      labelNames: ['kind', 'dimension'] as const,
      registers,
    }),
    events: new Counter({
      name: 'idp_security_events_total',
      help: 'Security events recorded, by type',
      labelNames: ['type'] as const,
      registers,
    }),
    eventsDropped: new Counter({
      name: 'idp_security_events_dropped_total',
      help: 'Security events lost because the queue was full or the database refused them',
      registers,
    }),
    eventQueue: new Gauge({
      name: 'idp_security_event_queue',
      help: 'Security events waiting to be written',
      registers,
    }),
  };

  if (options.pool) {
    const pool = options.pool;
    new Gauge({
      name: 'idp_db_pool_connections',
      help: 'PostgreSQL pool connections by state (total, idle, waiting clients)',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const stats = pool();
        if (!stats) return;
        this.set({ state: 'total' }, stats.total);
        this.set({ state: 'idle' }, stats.idle);
        this.set({ state: 'waiting' }, stats.waiting);
      },
    });
  }
  if (options.signingKeys) {
    const signingKeys = options.signingKeys;
    new Gauge({
      name: 'idp_signing_key_age_seconds',
      help: 'Seconds since the active signing key of each algorithm started signing (a rotation resets it)',
      labelNames: ['alg'] as const,
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const key of signingKeys()) {
          if (key.state === 'active') this.set({ alg: key.alg }, Math.max(0, (now - key.activatesAt.getTime()) / 1000));
        }
      },
    });
  }
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * A metric's children kept by their label values, for hot paths: prom-client builds and hashes
 * the labels object on every `inc({...})`/`observe({...})` otherwise. Label values are bounded
 * (route names, statuses, grant types, registered clients); past `max` the map starts over.
 *
 * @example
 * const issued = children((key) => metrics.tokensIssued.labels(...key.split('\n')));
 * issued(`client_credentials\nsvc`).inc();
 */
export function children<C>(make: (key: string) => C, max = 2000): (key: string) => C {
  const kept = new Map<string, C>();
  return (key) => {
    let child = kept.get(key);
    if (child === undefined) {
      if (kept.size >= max) kept.clear();
      child = make(key);
      kept.set(key, child);
    }
    return child;
  };
}
