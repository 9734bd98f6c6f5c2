import type { LimitsConfig } from '../config/limits.ts';
import type { Logger } from '../logger.ts';
import { type BruteForceProtection, createBruteForceProtection } from './brute-force.ts';
import type { Metrics } from './metrics.ts';
import type { Gate, Limiter, RateLimitStore, Verdict } from './rate-limits.ts';
import type { SecurityEventInput, SecurityEventService } from './security-events.ts';
import { createSurgeDetector, type SurgeDetector, surgeEvent } from './surge-detector.ts';

export type LimitName = 'token' | 'introspection' | 'client_auth_failures' | 'signin_ip' | 'signin_account' | 'admin';

/** Who was refused, for the event log. */
export type TripContext = Omit<SecurityEventInput, 'type' | 'outcome' | 'details'>;

/**
 * Everything that slows or stops abuse, built once in the composition root: the rate limiters,
 * brute-force lockout, surge detection, and the bookkeeping of a refusal.
 */
export interface Protection {
  readonly limits: Readonly<Record<LimitName, Limiter>>;
  /**
   * The client-authentication failure limit per address checked and the per-client limit
   * counted in one call (one Redis round trip): for token requests, and for introspection and
   * revocation. Same counters as `limits`.
   */
  readonly gates: { readonly token: Gate; readonly introspection: Gate };
  readonly bruteForce: BruteForceProtection;
  readonly surge: SurgeDetector;
  readonly events: SecurityEventService;
  readonly metrics: Metrics;
  /**
   * Counts a refusal (metric) and records `ratelimit.tripped` once per key and window (in this
   * instance): the first refusal, not every one of a flood.
   */
  refused(limit: LimitName, verdict: Verdict, who: TripContext, key: string): void;
  close(): Promise<void>;
}

export function createProtection(deps: {
  config: LimitsConfig;
  store: RateLimitStore;
  events: SecurityEventService;
  metrics: Metrics;
  log: Logger;
  /** keys the digest of sign-in names in the counters */
  digestKey: Buffer;
}): Protection {
  const { config, store, events, metrics } = deps;
  const r = config.rateLimits;
  const minute = (name: LimitName, points: number) => store.limiter({ name, points, windowSeconds: r.windowSeconds });
  const limits: Record<LimitName, Limiter> = {
    token: minute('token', r.tokenPerClient),
    introspection: minute('introspection', r.introspectionPerClient),
    client_auth_failures: minute('client_auth_failures', r.clientAuthFailuresPerIp),
    signin_ip: minute('signin_ip', r.signinPerIp),
    signin_account: minute('signin_account', r.signinPerAccount),
    admin: minute('admin', r.adminPerIp),
  };
  const bruteForce = createBruteForceProtection({
    store,
    digestKey: deps.digestKey,
    threshold: config.lockout.threshold,
    accountThreshold: config.lockout.accountThreshold,
    lockoutSeconds: config.lockout.seconds,
    delayMs: config.lockout.delayMs,
    // counted by the brute-force protection: failures only, each address up to its share
    accountRate: limits.signin_account,
    accountRateWindowSeconds: r.windowSeconds,
  });
  const surge = createSurgeDetector({
    thresholds: { failures: config.surge.failuresPerMinute, tokens: config.surge.tokensPerMinute },
    log: deps.log,
    metrics,
    // a surge also goes to the event log (once a minute per key), where the console charts it
    onSurge: (detected) => events.record(surgeEvent(detected)),
  });
  const tripped = new Map<string, number>();
  return {
    limits,
    gates: {
      token: store.gate(limits.client_auth_failures, limits.token),
      introspection: store.gate(limits.client_auth_failures, limits.introspection),
    },
    bruteForce,
    surge,
    events,
    metrics,
    refused(limit, verdict, who, key) {
      metrics.rateLimited.inc({ limit });
      const id = `${limit}\n${key}`;
      const now = Date.now();
      if ((tripped.get(id) ?? 0) > now) return;
      tripped.delete(id);
      tripped.set(id, now + verdict.retryAfter * 1000);
      // bounded: the oldest entry goes first (Map keeps insertion order)
      if (tripped.size > 10_000) tripped.delete(tripped.keys().next().value as string);
      events.record({
        type: 'ratelimit.tripped',
        outcome: 'failure',
        ...who,
        details: {
          limit,
          points: limits[limit].points,
          window_seconds: r.windowSeconds,
          retry_after: verdict.retryAfter,
        },
      });
    },
    close: () => store.close(),
  };
}
