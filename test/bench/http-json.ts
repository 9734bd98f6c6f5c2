import { createServer } from 'node:net';

/** Basic client authentication value (RFC 6749 §2.3.1: both parts form-urlencoded first). */
export function basicAuth(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** A request used while setting targets up (not under load): JSON answer or an error naming the call. */
export async function callJson<T>(
  method: 'GET' | 'POST',
  url: string,
  init: { headers?: Record<string, string>; body?: string; expect?: number } = {},
): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: init.headers ?? {},
    body: init.body ?? null,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (res.status !== (init.expect ?? 200)) {
    throw new Error(`${method} ${url}: expected ${init.expect ?? 200}, got ${res.status} ${text.slice(0, 500)}`);
  }
  return JSON.parse(text) as T;
}

/** Polls `url` until it answers 200, failing early if `alive()` turns false. */
export async function waitFor200(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`server exited while waiting for ${url}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = String(res.status);
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}

/** A port free right now on 127.0.0.1; the product takes PORT from its environment, so we must choose one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Same path and query on a different origin: discovery names `localhost`, we dial 127.0.0.1 directly. */
export function onOrigin(url: string, origin: string): string {
  const u = new URL(url);
  return new URL(`${u.pathname}${u.search}`, origin).toString();
}
