import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { jsonProblem, peekBody, textProblem, urlencodedProblem } from '../../../src/http/middleware/clean-input.ts';

type Reader = (req: IncomingMessage) => Promise<Buffer>;

const readers: Record<string, Reader> = {
  async 'for await'(req) {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  },
  // what oidc-provider's body parser does
  async 'iterator without destroy'(req) {
    // a body with bytes looks unread (an empty chunked one may have ended: nothing to put back)
    if (!req.readable) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  },
  // what our form reader does
  'data and end'(req) {
    if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.once('end', () => resolve(Buffer.concat(chunks)));
      req.once('error', reject);
    });
  },
};

describe('peekBody: the body is read and put back', () => {
  let server: Server;
  let reader: Reader = readers['for await'] as Reader;
  let port = 0;
  before(async () => {
    server = createServer(async (req, res) => {
      const peeked = await peekBody(req, 64 * 1024);
      if (peeked.kind !== 'body') {
        res.writeHead(413).end();
        return;
      }
      const again = await reader(req);
      res.end(JSON.stringify({ peeked: peeked.body.length, read: again.length, same: peeked.body.equals(again) }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  /** sends `parts` with pauses between them, chunked when `chunked` */
  const send = (parts: Buffer[], chunked: boolean) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const total = parts.reduce((n, p) => n + p.length, 0);
      const req = request(
        {
          port,
          host: '127.0.0.1',
          method: 'POST',
          headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(total) },
        },
        (res) => {
          let text = '';
          res.on('data', (c) => {
            text += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      (async () => {
        for (const part of parts) {
          req.write(part);
          await new Promise((r) => setTimeout(r, 5));
        }
        req.end();
      })();
    });

  for (const [name, read] of Object.entries(readers)) {
    for (const chunked of [false, true]) {
      test(`${name}, ${chunked ? 'chunked' : 'with a length'}: small, large, several pieces, empty`, async () => {
        reader = read;
        const cases = [
          [Buffer.from('a=b&c=d')],
          [Buffer.alloc(60 * 1024, 0x61)],
          [Buffer.from('grant_type='), Buffer.alloc(20_000, 0x62), Buffer.alloc(30_000, 0x63)],
          ...(chunked ? [[]] : []),
        ];
        for (const parts of cases) {
          const total = parts.reduce((n, p) => n + p.length, 0);
          const res = await send(parts, chunked);
          assert.equal(res.status, 200);
          assert.deepEqual(JSON.parse(res.body), { peeked: total, read: total, same: true });
        }
      });
    }
  }

  test('a body past the limit is not kept', async () => {
    const res = await send([Buffer.alloc(40 * 1024), Buffer.alloc(40 * 1024)], true);
    assert.equal(res.status, 413);
  });
});

describe('what the edge refuses', () => {
  test('NUL and lone surrogates, but not pairs', () => {
    assert.ok(textProblem('a\u0000'));
    assert.ok(textProblem('\ud800'));
    assert.ok(textProblem('x\udc00y'));
    assert.equal(textProblem('😀 ok'), undefined);
  });
  test('urlencoded text: NUL, malformed percent-encoding and invalid UTF-8, named but not echoed', () => {
    assert.match(urlencodedProblem('state=%00', 'query parameter') ?? '', /"state" contains a NUL/);
    assert.match(urlencodedProblem('a=%zz', 'form field') ?? '', /percent-encoded/);
    assert.match(urlencodedProblem('a=%ED%A0%80', 'form field') ?? '', /percent-encoded UTF-8/);
    assert.match(urlencodedProblem('%00=1', 'form field') ?? '', /name contains a NUL/);
    assert.equal(urlencodedProblem('a=b+c&d=%E2%82%AC&e&=x', 'form field'), undefined);
    assert.doesNotMatch(urlencodedProblem('secret=abc%00', 'form field') ?? '', /abc/);
    // a UTF-8 sequence cut by a separator is malformed in its part, and named there
    assert.match(urlencodedProblem('a=%F0%9F&b=%98%80', 'form field') ?? '', /"a" is not validly/);
    assert.match(urlencodedProblem('a=1&b=%E2%82%AC%E2', 'form field') ?? '', /"b" is not validly/);
    assert.match(urlencodedProblem('a=%E2%82=%AC', 'form field') ?? '', /"a" is not validly/);
    assert.equal(urlencodedProblem('resource=https%3A%2F%2Fapi.example&scope=a%3Ab+c', 'form field'), undefined);
  });
  test('JSON: every string and key, at any depth, without recursion', () => {
    assert.match(jsonProblem(JSON.parse('{"a":[{"b":"\\u0000"}]}')) ?? '', /a\.0\.b/);
    assert.ok(jsonProblem({ 'k\u0000': 1 }));
    assert.ok(jsonProblem('\ud800'));
    let deep: unknown = 'x\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.ok(jsonProblem(deep));
    assert.equal(jsonProblem({ a: [1, true, null, 'ok'] }), undefined);
  });
});
