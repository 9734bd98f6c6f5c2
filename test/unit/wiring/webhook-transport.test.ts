import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { PermanentFailure } from '../../../src/services/outbox.ts';
import { createWebhookSender } from '../../../src/wiring/webhook-transport.ts';
import { createPki, type Pki } from '../../helpers/tls.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.ts';

/** A DNS table: names answer what it says, nothing else answers. */
const table = (answers: Record<string, string[]>) => {
  const asked: string[] = [];
  const answer = async (host: string) => {
    asked.push(host);
    const found = answers[host];
    if (!found) throw Object.assign(new Error('ENODATA'), { code: 'ENODATA' });
    return found;
  };
  return { asked, resolve4: answer, resolve6: async () => [] as string[] };
};

describe('webhook sender: where deliveries may go', () => {
  const sender = createWebhookSender({ timeoutMs: 500 });

  test('http only to localhost and loopback addresses; https only to public addresses', () => {
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://127.5.6.7/hook',
      'http://[::1]:9000/hook',
      'http://localhost/hook',
      'http://siem.localhost/hook',
      'https://siem.example/hook',
      'https://93.184.215.14/hook',
    ]) {
      assert.equal(sender.problem(new URL(url)), undefined, url);
    }
    for (const url of [
      'http://example.com/hook',
      'http://10.0.0.1/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://169.254.169.254/latest/meta-data',
      'https://10.0.0.1/hook',
      'https://192.168.1.1/hook',
      'https://127.0.0.1/hook',
      'https://[::1]/hook',
      'https://[fd00::1]/hook',
      'https://2130706433/hook',
      'https://localhost/hook',
      'https://a.localhost./hook',
    ]) {
      assert.match(sender.problem(new URL(url)) ?? '', /./, url);
    }
  });

  test('https to a name that resolves to an internal address: refused for good, no connection made', async () => {
    const resolver = table({ 'internal.example': ['10.0.0.7'], 'mixed.example': ['93.184.215.14', '127.0.0.1'] });
    const guarded = createWebhookSender({ timeoutMs: 500, fetch: { resolver } });
    for (const host of ['internal.example', 'mixed.example']) {
      await assert.rejects(guarded.post(`https://${host}/hook`, {}, '{}'), (err: Error) => {
        assert.ok(err instanceof PermanentFailure, `${host}: ${err.message}`);
        assert.match(err.message, /non-public/);
        return true;
      });
    }
    // a URL the rules refuse never reaches the resolver
    await assert.rejects(guarded.post('http://example.com/hook', {}, '{}'), PermanentFailure);
    assert.ok(!resolver.asked.includes('example.com'));
  });

  describe('to a receiver', () => {
    let receiver: WebhookReceiver;
    before(async () => {
      receiver = await startWebhookReceiver();
    });
    after(() => receiver.close());

    test('http to localhost reaches the loopback receiver; a receiver that never answers times out, retryably', async () => {
      const status = await sender.post(`http://localhost:${receiver.port}/plain`, { 'webhook-id': 'msg_1' }, '{"a":1}');
      assert.equal(status, 204);
      const [hit] = receiver.to('/plain');
      assert.equal(hit?.body, '{"a":1}');
      assert.equal(hit?.headers['webhook-id'], 'msg_1');
      assert.equal(hit?.headers['content-length'], '7');
      receiver.plan('/slow', ['hang']);
      const started = Date.now();
      await assert.rejects(sender.post(`${receiver.url}/slow`, {}, '{}'), (err: Error) => {
        assert.ok(!(err instanceof PermanentFailure));
        assert.match(err.message, /no answer within 0.5 s/);
        return true;
      });
      assert.ok(Date.now() - started < 3000);
      // a redirect is an answer like any other, not followed
      receiver.plan('/moved', [302]);
      assert.equal(await sender.post(`${receiver.url}/moved`, {}, '{}'), 302);
    });
  });

  describe('https', () => {
    let pki: Pki;
    let origin: string;
    const seen: { path: string; signature: string | undefined }[] = [];
    const server = createHttpsServer();
    before(async () => {
      pki = createPki();
      const cert = pki.issue('receiver', { subject: '/CN=hooks.test', san: 'DNS:hooks.test', usage: 'serverAuth' });
      server.setSecureContext({ cert: cert.cert, key: cert.key });
      server.on('request', (req, res) => {
        seen.push({ path: req.url ?? '', signature: req.headers['webhook-signature'] as string | undefined });
        req.resume();
        res.statusCode = req.url === '/redirect' ? 307 : 200;
        if (req.url === '/redirect') res.setHeader('location', 'http://169.254.169.254/');
        // a large answer is not read: only its status counts
        res.end(req.url === '/big' ? Buffer.alloc(1024 * 1024) : 'ok');
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      origin = `https://hooks.test:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      pki.remove();
    });

    test('POSTs through the outbound fetch: the answer’s status, no redirect followed, a large body not read', async () => {
      // the receiver is on loopback: this sender lets loopback through (as a public address) and trusts the test CA
      const https = createWebhookSender({
        timeoutMs: 2000,
        fetch: { refused: (a) => a !== '127.0.0.1', ca: pki.ca.cert, resolver: table({ 'hooks.test': ['127.0.0.1'] }) },
      });
      assert.equal(await https.post(`${origin}/in`, { 'webhook-signature': 'v1,abc' }, '{}'), 200);
      assert.equal(await https.post(`${origin}/redirect`, {}, '{}'), 307);
      assert.equal(await https.post(`${origin}/big`, {}, '{}'), 200);
      assert.deepEqual(
        seen.map((s) => s.path),
        ['/in', '/redirect', '/big'],
      );
      assert.equal(seen[0]?.signature, 'v1,abc');
    });
  });
});
