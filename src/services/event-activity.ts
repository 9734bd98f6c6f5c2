import type { SecurityEventService } from './security-events.ts';

/** The windows the console's charts show: the last hour in 5-minute buckets, the last day in hours. */
export const ACTIVITY_WINDOWS = {
  hour: { seconds: 3600, bucketSeconds: 300 },
  day: { seconds: 86_400, bucketSeconds: 3600 },
} as const;
export type ActivityWindow = keyof typeof ACTIVITY_WINDOWS;

/** The series a chart draws: a name, the event type, and which outcome (both when absent). */
export const ACTIVITY_SERIES = [
  { name: 'signins_succeeded', type: 'signin.succeeded', outcome: 'success' },
  { name: 'signins_failed', type: 'signin.failed', outcome: 'failure' },
  { name: 'tokens_issued', type: 'token.issued', outcome: undefined },
  { name: 'lockouts', type: 'signin.locked', outcome: undefined },
  { name: 'rate_limit_trips', type: 'ratelimit.tripped', outcome: undefined },
  { name: 'surges', type: 'surge.detected', outcome: undefined },
] as const;
export type ActivitySeriesName = (typeof ACTIVITY_SERIES)[number]['name'];

/** How long after a surge the limits and lockouts that hit the same key count as its response. */
const FOLLOW_MINUTES = 10;
const MAX_SURGES = 20;

export interface Activity {
  window: ActivityWindow;
  since: Date;
  until: Date;
  bucketSeconds: number;
  /** the start of every bucket, oldest first */
  buckets: Date[];
  /** one count per bucket for each series */
  series: Record<ActivitySeriesName, number[]>;
  surges: {
    id: string;
    time: Date;
    kind: string;
    dimension: string;
    /** the address, client or (digest of the) account that surged */
    key: string | null;
    perMinute: number | null;
    threshold: number | null;
    /** what stands against it by design */
    action: string | null;
    rateLimitTrips: number;
    lockouts: number;
  }[];
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * The security event log over a window, as counts per bucket for the console's charts, and the
 * surges of the window with what the limits did about them. Counted by the database.
 */
export async function eventActivity(
  events: Pick<SecurityEventService, 'histogram' | 'surges'>,
  window: ActivityWindow,
  now = new Date(),
): Promise<Activity> {
  const { seconds, bucketSeconds } = ACTIVITY_WINDOWS[window];
  const step = bucketSeconds * 1000;
  // whole buckets: the last one is the one now falls in
  const until = new Date((Math.floor(now.getTime() / step) + 1) * step);
  const since = new Date(until.getTime() - seconds * 1000);
  const count = seconds / bucketSeconds;
  const buckets = Array.from({ length: count }, (_, i) => new Date(since.getTime() + i * step));
  const [rows, surges] = await Promise.all([
    events.histogram({ since, until, bucketSeconds, types: ACTIVITY_SERIES.map((s) => s.type) }),
    events.surges({ since, until, limit: MAX_SURGES, followMinutes: FOLLOW_MINUTES }),
  ]);
  const series = Object.fromEntries(ACTIVITY_SERIES.map((s) => [s.name, new Array<number>(count).fill(0)])) as Record<
    ActivitySeriesName,
    number[]
  >;
  for (const row of rows) {
    const i = Math.floor((row.bucket.getTime() - since.getTime()) / step);
    if (i < 0 || i >= count) continue;
    for (const s of ACTIVITY_SERIES) {
      if (s.type !== row.type || (s.outcome !== undefined && s.outcome !== row.outcome)) continue;
      series[s.name][i] = (series[s.name][i] ?? 0) + row.count;
    }
  }
  return {
    window,
    since,
    until,
    bucketSeconds,
    buckets,
    series,
    surges: surges.map(({ event, rateLimitTrips, lockouts }) => {
      const dimension = str(event.details.dimension) ?? 'unknown';
      return {
        id: event.id,
        time: event.occurredAt,
        kind: str(event.details.kind) ?? 'unknown',
        dimension,
        key: dimension === 'ip' ? event.ip : dimension === 'client' ? event.clientId : event.subject,
        perMinute: num(event.details.per_minute),
        threshold: num(event.details.threshold),
        action: str(event.details.action),
        rateLimitTrips,
        lockouts,
      };
    }),
  };
}
