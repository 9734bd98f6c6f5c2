import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { ADMIN_CLIENT_ID, randomName, startTestServer, type TestServer } from '../helpers/server.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

/**
 * Webhooks end to end: a receiver on 127.0.0.1, the app's outbox worker, signatures checked
 * with the Standard Webhooks algorithm written out here (not the server's code), retries after
 * 500s and timeouts, dead-lettering, filters, a receiver that is down, and a restart with
 * deliveries pending.
 */

interface Hook {
  id: string;
  secret: string;
  url: string;
  events: string[];
}
interface Delivery {
  id: string;
  event_id: string;
  event_type: string;
  status: string;
  dead_lettered: boolean;
  attempts: number;
  max_attempts: number;
  last_response_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
}

/** Standard Webhooks, "Verifying webhooks": HMAC-SHA256 of `id.timestamp.body`, keyed with the base64-decoded secret. */
function verify(secret: string, headers: Record<string, string>, body: string): boolean {
  const id = headers['webhook-id'] ?? '';
  const timestamp = headers['webhook-timestamp'] ?? '';
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return (headers['webhook-signature'] ?? '').split(' ').some((part) => {
    const [version, signature] = part.split(',');
    const given = Buffer.from(signature ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('webhooks', () => {
  let database: TestDatabase;
  let receiver: WebhookReceiver;
  let server: TestServer;
  const boot = () => startTestServer({ database, env: { WEBHOOK_MAX_ATTEMPTS: '4', WEBHOOK_TIMEOUT_SECONDS: '1' } });

  before(async () => {
    database = await createTestDatabase();
    receiver = await startWebhookReceiver();
    server = await boot();
  });
  after(async () => {
    await server?.close();
    await receiver?.close();
    await database?.drop();
  });

  const register = async (path: string, events: string[], base = receiver.url) => {
    const res = await server.admin<Hook>('POST', '/webhooks', { url: `${base}${path}`, events });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  const deliveries = async (hook: Hook) => {
    const res = await server.admin<{ data: Delivery[] }>('GET', `/webhooks/${hook.id}/deliveries`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.data;
  };
  const newUser = async () => {
    const res = await server.admin<{ id: string }>('POST', '/users', { username: randomName('hook') });
    assert.equal(res.status, 201);
    return res.body.id;
  };

  test('registration: a whsec_ secret of 256 bits shown once, sealed at rest; bad URLs and patterns are 400 naming the field', async () => {
    const hook = await register('/crud', ['signin.failed', 'user.*']);
    assert.match(hook.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(Buffer.from(hook.secret.slice(6), 'base64').length, 32);
    const read = await server.admin<Record<string, unknown>>('GET', `/webhooks/${hook.id}`);
    assert.equal(read.status, 200);
    assert.equal(read.body.secret, undefined, 'never shown again');
    assert.deepEqual(read.body.events, ['signin.failed', 'user.*']);
    const list = await server.admin<{ data: Record<string, unknown>[] }>('GET', '/webhooks');
    assert.ok(list.body.data.some((w) => w.id === hook.id && !('secret' in w)));
    const row = await server.running.app.db.prisma.webhook.findUnique({ where: { id: hook.id } });
    assert.ok(row && !JSON.stringify(row).includes(hook.secret.slice(6)), 'the secret is stored sealed');
    const audit = await server.admin<{ data: unknown[] }>('GET', `/events?type=webhook.created&subject=${hook.id}`);
    assert.equal(audit.body.data.length, 1);
    assert.ok(!JSON.stringify(audit.body).includes(hook.secret.slice(6)), 'no secret in the event log');

    for (const [body, field] of [
      [{ url: 'http://example.com/hook', events: ['user.*'] }, 'url'],
      [{ url: 'https://10.0.0.1/hook', events: ['user.*'] }, 'url'],
      [{ url: 'https://127.0.0.1/hook', events: ['user.*'] }, 'url'],
      [{ url: 'https://[::ffff:a00:1]/hook', events: ['user.*'] }, 'url'],
      [{ url: 'https://0x7f.1/hook', events: ['user.*'] }, 'url'],
      [{ url: 'https://localhost/hook', events: ['user.*'] }, 'url'],
      [{ url: 'http://169.254.169.254/latest', events: ['user.*'] }, 'url'],
      [{ url: 'https://user:pw@example.com/hook', events: ['user.*'] }, 'url'],
      [{ url: 'ftp://example.com/hook', events: ['user.*'] }, 'url'],
      [{ url: 'https://example.com/hook', events: ['signin.nope'] }, 'events.0'],
      [{ url: 'https://example.com/hook', events: ['user.created', 'nope.*'] }, 'events.1'],
      [{ url: 'https://example.com/hook', events: ['user.**'] }, 'events.0'],
      [{ url: 'https://example.com/hook', events: [] }, 'events'],
      [{ url: 'https://example.com/hook', events: ['user.*'], secret: 'mine' }, 'secret'],
      [{ url: 'https://example.com/\u0000', events: ['user.*'] }, 'url'],
      [{ url: 'https://example.com/hook', events: ['\ud800'] }, 'events.0'],
    ] as const) {
      const res = await server.admin<{ error: string; details?: { field: string }[] }>('POST', '/webhooks', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.status}`);
      // NUL and lone surrogates are refused by the edge before any field is read
      if (!String(JSON.stringify(body)).match(/\\u0000|\\ud800/))
        assert.ok(
          res.body.details?.some((d) => d.field === field),
          `${JSON.stringify(body)} names ${field}: ${JSON.stringify(res.body)}`,
        );
    }
    // a name is checked when it is resolved, at delivery; https to one is accepted here
    const named = await server.admin<Hook>('POST', '/webhooks', { url: 'https://siem.example/in', events: ['*'] });
    assert.equal(named.status, 201);
    assert.equal((await server.admin('DELETE', `/webhooks/${named.body.id}`)).status, 204);

    const patched = await server.admin<Hook>('PATCH', `/webhooks/${hook.id}`, { events: ['user.deleted'] });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.events, ['user.deleted']);
    assert.equal((await server.admin('PATCH', `/webhooks/${hook.id}`, { url: 'http://10.1.2.3/' })).status, 400);
    assert.equal((await server.admin('PATCH', `/webhooks/${hook.id}`, {})).status, 400);
    assert.equal((await server.admin('GET', '/webhooks/does-not-exist')).status, 404);
    assert.equal((await server.admin('GET', '/webhooks/does-not-exist/deliveries')).status, 404);
    assert.equal((await server.admin('GET', `/webhooks/${hook.id}/deliveries?after=bm9wZQ`)).status, 400);
    assert.equal((await server.admin('GET', `/webhooks/${hook.id}/deliveries?limit=1e400`)).status, 400);
    assert.equal((await server.admin('DELETE', `/webhooks/${hook.id}`)).status, 204);
    assert.equal((await server.admin('GET', `/webhooks/${hook.id}`)).status, 404);
  });

  test('scopes: webhooks:read reads, webhooks:write alone cannot point the event log somewhere (it needs events:read)', async () => {
    const body = { url: `${receiver.url}/scoped`, events: ['user.*'] };
    const reader = await server.adminToken('webhooks:read');
    assert.equal((await server.admin('GET', '/webhooks', undefined, reader)).status, 200);
    assert.equal((await server.admin('POST', '/webhooks', body, reader)).status, 403);
    const writerOnly = await server.adminToken('webhooks:write');
    const refused = await server.admin<{ error: string }>('POST', '/webhooks', body, writerOnly);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'insufficient_scope');
    const events = await server.adminToken('events:read');
    assert.equal((await server.admin('POST', '/webhooks', body, events)).status, 403);
    assert.equal((await server.admin('GET', '/webhooks', undefined, events)).status, 403);
    const both = await server.adminToken('webhooks:write events:read');
    const made = await server.admin<Hook>('POST', '/webhooks', body, both);
    assert.equal(made.status, 201);
    assert.equal((await server.admin('PATCH', `/webhooks/${made.body.id}`, { events: ['*'] }, writerOnly)).status, 403);
    assert.equal((await server.admin('DELETE', `/webhooks/${made.body.id}`, undefined, both)).status, 204);
    const denied = await server.admin<{ data: { outcome: string }[] }>('GET', '/events?type=webhook.created');
    assert.ok(
      denied.body.data.some((e) => e.outcome === 'failure'),
      'the refused attempt is in the log',
    );
  });

  test('delivery: signed per Standard Webhooks, the body is the event as GET /admin/events shows it, filters exact and family', async () => {
    const users = await register('/users', ['user.*']);
    const authFailures = await register('/auth', ['client.auth_failed']);
    const userId = await newUser();
    const [hit] = await receiver.waitFor('/users');
    assert.ok(hit);
    assert.equal(hit.headers['content-type'], 'application/json');
    assert.ok(verify(users.secret, hit.headers, hit.body), 'the signature verifies');
    assert.ok(!verify(authFailures.secret, hit.headers, hit.body), 'and not with another secret');
    assert.ok(!verify(users.secret, hit.headers, `${hit.body} `), 'nor over another body');
    const event = JSON.parse(hit.body) as { id: string; type: string; subject: string };
    assert.equal(event.type, 'user.created');
    assert.equal(event.subject, userId);
    const logged = await server.admin<{ data: unknown[] }>('GET', `/events?type=user.created&subject=${userId}`);
    assert.deepEqual(JSON.parse(hit.body), logged.body.data[0], 'the same fields and values as the event log');
    assert.deepEqual(Object.keys(JSON.parse(hit.body)), Object.keys(logged.body.data[0] as object), 'in its order');

    // a batched event (the token endpoint's) reaches the exact filter, not the family one
    const refused = await server.token(ADMIN_CLIENT_ID, 'wrong-secret', { grant_type: 'client_credentials' });
    assert.equal(refused.status, 401);
    const [failure] = await receiver.waitFor('/auth');
    assert.ok(failure && verify(authFailures.secret, failure.headers, failure.body));
    assert.equal(JSON.parse(failure.body).type, 'client.auth_failed');
    assert.ok(!JSON.parse(failure.body).details.client_secret, 'no secret in the body');
    assert.deepEqual(
      receiver.to('/users').map((r) => JSON.parse(r.body).type),
      ['user.created'],
      'user.* received no other type',
    );
    const [delivered] = await until('the delivery marked', async () => {
      const list = await deliveries(users);
      return list[0]?.status === 'delivered' ? list : undefined;
    });
    assert.equal(delivered?.id, hit.headers['webhook-id'], 'the delivery id is the webhook-id');
    assert.equal(delivered?.event_id, event.id);
    assert.equal(delivered?.event_type, 'user.created');
    assert.equal(delivered?.last_response_status, 204);
    assert.equal(delivered?.attempts, 1);
    assert.equal(delivered?.next_attempt_at, null);
  });

  test('retries after a 500 and a timeout, with the same webhook-id, until a 2xx', async () => {
    const hook = await register('/flaky', ['user.deleted']);
    receiver.plan('/flaky', [500, 'hang', 200]);
    const userId = await newUser();
    assert.equal((await server.admin('DELETE', `/users/${userId}`)).status, 204);
    const attempts = await receiver.waitFor('/flaky', 3);
    assert.equal(new Set(attempts.map((a) => a.headers['webhook-id'])).size, 1, 'one webhook-id on every attempt');
    assert.equal(new Set(attempts.map((a) => a.body)).size, 1, 'the same body');
    for (const a of attempts) assert.ok(verify(hook.secret, a.headers, a.body));
    const timeouts = (attempts[2]?.at ?? 0) - (attempts[1]?.at ?? 0);
    assert.ok(timeouts >= 1000, `the hung attempt was given up after the timeout (${timeouts} ms)`);
    const [row] = await until('the delivery marked', async () => {
      const list = await deliveries(hook);
      return list[0]?.status === 'delivered' ? list : undefined;
    });
    assert.equal(row?.attempts, 3);
    assert.equal(row?.last_response_status, 200);
    assert.equal(row?.dead_lettered, false);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(receiver.to('/flaky').length, 3, 'nothing sent after the 2xx');
  });

  test('dead-lettered after WEBHOOK_MAX_ATTEMPTS, visible in the deliveries', async () => {
    const hook = await register('/down', ['user.updated']);
    receiver.plan('/down', [503, 503, 503, 503, 503]);
    const userId = await newUser();
    assert.equal((await server.admin('PATCH', `/users/${userId}`, { name: 'Dead Letter' })).status, 200);
    const [dead] = await until('the dead letter', async () => {
      const list = await deliveries(hook);
      return list[0]?.dead_lettered ? list : undefined;
    });
    assert.equal(dead?.status, 'dead');
    assert.equal(dead?.attempts, 4);
    assert.equal(dead?.max_attempts, 4);
    assert.equal(dead?.last_response_status, 503);
    assert.match(dead?.last_error ?? '', /503/);
    assert.equal(dead?.next_attempt_at, null);
    assert.equal(receiver.to('/down').length, 4);
    assert.equal(new Set(receiver.to('/down').map((r) => r.headers['webhook-id'])).size, 1);
  });

  test('a rotated secret: both sign for a day, so a receiver can switch', async () => {
    const hook = await register('/rotated', ['user.created']);
    const rotated = await server.admin<Hook & { previous_secret_expires_at: string }>(
      'POST',
      `/webhooks/${hook.id}/secret`,
    );
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.body.secret, hook.secret);
    assert.ok(Date.parse(rotated.body.previous_secret_expires_at) > Date.now() + 23 * 3600_000);
    await newUser();
    const [hit] = await receiver.waitFor('/rotated');
    assert.ok(hit && verify(rotated.body.secret, hit.headers, hit.body), 'the new secret verifies');
    assert.ok(verify(hook.secret, hit.headers, hit.body), 'and so does the old one, for now');
    assert.equal(hit.headers['webhook-signature']?.split(' ').length, 2);
  });

  test('receiver down, then this server restarted with the delivery pending, then the receiver up: delivered once', async () => {
    const later = await startWebhookReceiver();
    const port = later.port;
    await later.close();
    const hook = await register('/later', ['user.created'], `http://127.0.0.1:${port}`);
    await newUser();
    const [pending] = await until('a failed attempt', async () => {
      const list = await deliveries(hook);
      return list[0] && list[0].attempts >= 1 && list[0].last_error ? list : undefined;
    });
    assert.equal(pending?.status, 'pending');
    assert.match(pending?.next_attempt_at ?? '', /^\d{4}-/);
    assert.equal(pending?.last_response_status, null, 'no answer, no status');
    await server.close();
    server = await boot();
    const back = await startWebhookReceiver(port);
    try {
      const [hit] = await back.waitFor('/later');
      assert.ok(hit && verify(hook.secret, hit.headers, hit.body));
      assert.equal(hit.headers['webhook-id'], pending?.id);
      const [done] = await until('the delivery marked', async () => {
        const list = await deliveries(hook);
        return list[0]?.status === 'delivered' ? list : undefined;
      });
      assert.ok((done?.attempts ?? 0) >= 2);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(back.to('/later').length, 1, 'delivered once');
    } finally {
      await back.close();
    }
  });

  test('deleting a webhook removes its pending deliveries: nothing more is sent', async () => {
    const hook = await register('/gone', ['user.created']);
    receiver.plan('/gone', [500, 500, 500]);
    await newUser();
    await receiver.waitFor('/gone', 1);
    assert.equal((await server.admin('DELETE', `/webhooks/${hook.id}`)).status, 204);
    const rows = await server.running.app.db.prisma.outboxItem.count({ where: { webhookId: hook.id } });
    assert.equal(rows, 0);
    const seen = receiver.to('/gone').length;
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(receiver.to('/gone').length <= seen + 1, 'at most the attempt under way');
  });
});
