import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_CLIENT_ID, startTestServer, type TestServer } from '../helpers/server.ts';

interface Activity {
  window: string;
  since: string;
  until: string;
  bucket_seconds: number;
  buckets: string[];
  series: Record<string, number[]>;
  surges: {
    kind: string;
    dimension: string;
    key: string | null;
    per_minute: number | null;
    rate_limit_trips: number;
    lockouts: number;
  }[];
}

const MINUTE = 60_000;

describe('GET /admin/events/activity: the event log counted per time bucket in the database', () => {
  let server: TestServer;
  /** fetched before the events are seeded: fetching one records a token.issued of its own */
  let token: string;
  const now = Date.now();
  const at = (minutesAgo: number) => new Date(now - minutesAgo * MINUTE);

  before(async () => {
    // a low surge threshold, so a few failed client authentications are a surge recorded by the server itself
    server = await startTestServer({ env: { SURGE_FAILURES_PER_MINUTE: '3' } });
    // the series count exactly what is seeded below: the admin token's own event, and any other
    // recorded while the server started, are written and removed first
    token = await server.adminToken('admin');
    await server.running.app.services.events.flush();
    await server.running.app.db.prisma.securityEvent.deleteMany({});
    const row = (type: string, minutesAgo: number, extra: Record<string, unknown> = {}) => ({
      type,
      occurredAt: at(minutesAgo),
      outcome: type === 'signin.succeeded' || type === 'token.issued' ? 'success' : 'failure',
      ...extra,
    });
    await server.running.app.db.prisma.securityEvent.createMany({
      data: [
        ...Array.from({ length: 7 }, () => row('signin.succeeded', 2)),
        ...Array.from({ length: 3 }, () => row('signin.failed', 2)),
        ...Array.from({ length: 4 }, () => row('signin.failed', 40)),
        ...Array.from({ length: 5 }, () => row('token.issued', 40)),
        row('signin.locked', 40, { subject: 'digest-1' }),
        // older than an hour: in the day's chart only
        ...Array.from({ length: 6 }, () => row('token.issued', 180)),
        // older than a day: in neither
        row('signin.failed', 60 * 25),
        // a type the charts do not draw
        row('client.created', 2),
        // a surge from one address, and what the limits did about it
        row('surge.detected', 41, {
          ip: '203.0.113.9',
          details: { kind: 'failures', dimension: 'ip', per_minute: 80, threshold: 20 },
        }),
        row('ratelimit.tripped', 40, { ip: '203.0.113.9' }),
        row('ratelimit.tripped', 39, { ip: '203.0.113.9' }),
        // another address: not counted for that surge
        row('ratelimit.tripped', 39, { ip: '198.51.100.1' }),
      ],
    });
  });
  after(() => server?.close());

  const activity = async (window: string, as = token) =>
    server.admin<Activity>('GET', `/events/activity?window=${window}`, undefined, as);

  it('the last hour in 5-minute buckets: each series sums what was recorded in it', async () => {
    const res = await activity('hour');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const a = res.body;
    assert.equal(a.bucket_seconds, 300);
    assert.equal(a.buckets.length, 12);
    const sum = (name: string) => (a.series[name] ?? []).reduce((x, y) => x + y, 0);
    assert.equal(sum('signins_succeeded'), 7);
    assert.equal(sum('signins_failed'), 7);
    assert.equal(sum('tokens_issued'), 5);
    assert.equal(sum('lockouts'), 1);
    assert.equal(sum('surges'), 1);
    // the recent ones fall in the last bucket or the one before it, the older ones about 40 minutes back
    const last = (name: string) => (a.series[name] ?? []).slice(-2).reduce((x, y) => x + y, 0);
    assert.equal(last('signins_succeeded'), 7);
    assert.equal(last('tokens_issued'), 0);
    const surge = a.surges.find((s) => s.key === '203.0.113.9');
    assert.ok(surge, JSON.stringify(a.surges));
    assert.equal(surge.kind, 'failures');
    assert.equal(surge.per_minute, 80);
    assert.equal(surge.rate_limit_trips, 2, 'trips of the same address only');
  });

  it('the last day in hourly buckets includes older events, not those of yesterday', async () => {
    const a = (await activity('day')).body;
    assert.equal(a.buckets.length, 24);
    const sum = (name: string) => (a.series[name] ?? []).reduce((x, y) => x + y, 0);
    assert.equal(sum('tokens_issued'), 11);
    assert.equal(sum('signins_failed'), 7);
  });

  it('a surge the server detects is recorded as an event and charted', async () => {
    for (let i = 0; i < 4; i++) {
      await server.token(ADMIN_CLIENT_ID, 'a wrong secret', { grant_type: 'client_credentials' });
    }
    await server.running.app.services.events.flush();
    const a = (await activity('hour')).body;
    const detected = a.surges.find((s) => s.dimension === 'client' && s.key === ADMIN_CLIENT_ID);
    assert.ok(detected, JSON.stringify(a.surges));
    assert.equal(detected.kind, 'failures');
    assert.ok((detected.per_minute ?? 0) >= 3);
  });

  it('needs events:read; a bad window is a 400 naming it', async () => {
    const reader = await server.adminToken('clients:read');
    assert.equal((await activity('hour', reader)).status, 403);
    const bad = await activity('week');
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /window/);
    assert.equal((await activity('%00')).status, 400);
  });
});
