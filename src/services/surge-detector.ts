import type { Logger } from '../logger.ts';
import type { Metrics } from './metrics.ts';
import type { SecurityEventInput } from './security-events.ts';

/** What is counted: failures (sign-in, client authentication) or token requests. */
export type SurgeKind = 'failures' | 'tokens';
/** Whose activity surged. */
export type SurgeDimension = 'account' | 'ip' | 'client';

export interface SurgeDetector {
  /** counts one occurrence; returns true when this one makes the last minute a surge (reported once a minute) */
  observe(kind: SurgeKind, dimension: SurgeDimension, key: string, now?: number): boolean;
}

export interface SurgeOptions {
  /** per key per minute; 0 turns a kind off */
  thresholds: Record<SurgeKind, number>;
  log: Logger;
  metrics?: Metrics | undefined;
  /** keys tracked at most (oldest forgotten first), so an attacker rotating keys cannot grow memory */
  maxKeys?: number;
  /** told of each surge reported (once a minute per key) */
  onSurge?: ((surge: DetectedSurge) => void) | undefined;
}

/** A surge as reported: the key whose activity passed the threshold within a minute. */
export interface DetectedSurge {
  kind: SurgeKind;
  dimension: SurgeDimension;
  key: string;
  perMinute: number;
  threshold: number;
}

const BUCKET_MS = 10_000;
const BUCKETS = 6; // a sliding minute in six 10-second buckets

interface Window {
  counts: number[];
  /** the bucket number (time / BUCKET_MS) of counts[0] */
  start: number;
  lastReported: number;
}

/**
 * A sliding one-minute window per key, in this instance's memory: when failures or token
 * requests for one account, address or client pass the threshold it logs a warning and moves
 * `idp_surges_detected_total`. It warns of an attack in progress; the rate limits stop it.
 */
export function createSurgeDetector(options: SurgeOptions): SurgeDetector {
  const maxKeys = options.maxKeys ?? 10_000;
  const windows = new Map<string, Window>();

  return {
    observe(kind, dimension, key, now = Date.now()) {
      const threshold = options.thresholds[kind];
      if (threshold <= 0) return false;
      const id = `${kind}\n${dimension}\n${key}`;
      const bucket = Math.floor(now / BUCKET_MS);
      let w = windows.get(id);
      if (w === undefined) {
        w = { counts: new Array(BUCKETS).fill(0), start: bucket - BUCKETS + 1, lastReported: 0 };
        windows.set(id, w);
        if (windows.size > maxKeys) {
          const oldest = windows.keys().next().value;
          if (oldest !== undefined) windows.delete(oldest);
        }
      }
      // slide: drop buckets that fell out of the minute, in place
      const shift = bucket - (w.start + BUCKETS - 1);
      if (shift > 0) {
        for (let i = 0; i < BUCKETS; i++) w.counts[i] = i + shift < BUCKETS ? (w.counts[i + shift] ?? 0) : 0;
        w.start += shift;
        // re-inserted once per bucket, not per request: Map order is then least recently seen
        // first, to the bucket (which eviction needs, and costs a delete and a set)
        windows.delete(id);
        windows.set(id, w);
      }
      w.counts[BUCKETS - 1] = (w.counts[BUCKETS - 1] ?? 0) + 1;

      const total = w.counts.reduce((a, b) => a + b, 0);
      if (total < threshold || now - w.lastReported < 60_000) return false;
      w.lastReported = now;
      options.metrics?.surges.inc({ kind, dimension });
      // the key is an address, a client id or a keyed digest of a sign-in name: no secret
      options.log.warn({ kind, dimension, key, perMinute: total, threshold }, `surge of ${kind} for one ${dimension}`);
      options.onSurge?.({ kind, dimension, key, perMinute: total, threshold });
      return true;
    },
  };
}

/** What stands against a surge of each kind: the limits that apply to the key that surged. */
const SURGE_ACTIONS: Record<SurgeKind, string> = {
  failures: 'sign-in and client-authentication limits per address, account and client; lockout after repeated failures',
  tokens: 'token endpoint limit per client',
};

/**
 * The `surge.detected` event: the key that surged in the column for its dimension (an address,
 * a client id, or the keyed digest of a sign-in name), the rate and threshold, and what applies.
 */
export function surgeEvent({ kind, dimension, key, perMinute, threshold }: DetectedSurge): SecurityEventInput {
  return {
    type: 'surge.detected',
    outcome: 'failure',
    ...(dimension === 'ip' ? { ip: key } : dimension === 'client' ? { clientId: key } : { subject: key }),
    details: {
      kind,
      dimension,
      per_minute: perMinute,
      threshold,
      action: SURGE_ACTIONS[kind],
    },
  };
}
