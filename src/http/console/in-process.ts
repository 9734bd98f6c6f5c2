import { type IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Context, Middleware } from 'koa';

/** What an in-process request answered. */
export interface InProcessAnswer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  /** the JSON body as the route set it (an object), or undefined */
  body: unknown;
}

/**
 * Sends a request through this server's own Koa application without a socket: the same middleware
 * chain an HTTP request meets (edge limits, clean input, the admin API's token check, its scopes,
 * its delegation rules and its audit, or oidc-provider's token endpoint), with the caller's
 * address as the request's, so rate limits and the event log see the person behind the console.
 * Nothing is written to a network: the answer is read from the context the chain leaves.
 */
export async function inProcess(
  outer: Context,
  request: { method: string; path: string; headers: Record<string, string>; body?: string | undefined },
): Promise<InProcessAnswer> {
  const payload = request.body === undefined ? [] : [Buffer.from(request.body, 'utf8')];
  const headers: Record<string, string> = { host: outer.host, 'user-agent': outer.get('user-agent') };
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
  const socket = { remoteAddress: outer.ip, encrypted: outer.secure, on() {}, once() {}, removeListener() {} };
  const req = Object.assign(Readable.from(payload), {
    method: request.method,
    url: request.path,
    headers,
    httpVersion: '1.1',
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    socket,
    connection: socket,
    complete: true,
    aborted: false,
  }) as unknown as IncomingMessage;
  const res = new ServerResponse(req);
  const app = outer.app;
  const ctx = app.createContext(req, res);
  await compose(app.middleware as Middleware[])(ctx, async () => {});
  return { status: ctx.status, headers: res.getHeaders() as InProcessAnswer['headers'], body: ctx.body };
}

/** Koa's composition: each middleware's `next` runs the following one. */
function compose(middleware: readonly Middleware[]): Middleware {
  return (ctx, next) => {
    const run = (i: number): Promise<unknown> => {
      const fn = middleware[i];
      return fn ? Promise.resolve(fn(ctx, () => run(i + 1))) : next();
    };
    return run(0);
  };
}
