/**
 * Token checking for APIs (resource servers) protected by the identity provider: validates its
 * RFC 9068 access tokens locally, sender constraints included, without calling the issuer per
 * request. Adapters for Koa, Express, Fastify and plain `node:http`; none of them imports its
 * framework, so the package depends on `jose` alone.
 *
 * @example Koa
 * ```js
 * import { koaAccessToken } from '@idp/resource-server';
 * app.use(koaAccessToken({ issuer: 'https://id.example', audience: 'https://orders.example', scopes: ['orders:read'] }));
 * app.use((ctx) => { ctx.body = { caller: ctx.state.accessToken.claims.sub } });
 * ```
 *
 * @example node:http
 * ```js
 * const authenticate = httpAccessToken({ issuer, audience });
 * createServer(async (req, res) => {
 *   const token = await authenticate(req, res); // on failure it has answered 401/403
 *   if (!token) return;
 *   res.end(`hello ${token.claims.sub}`);
 * });
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type CheckableRequest,
  createTokenChecker,
  TokenCheckError,
  type TokenCheckOptions,
  type VerifiedAccessToken,
} from './token-checker.ts';

export { certificateThumbprint, parseForwardedCertificate } from './client-certificate.ts';
export { memoryReplayCache, type ReplayCache, verifyDpopProof } from './dpop.ts';
export { type KeyCacheOptions, KeysUnavailableError, remoteKeySet } from './jwks-cache.ts';
export {
  type AccessTokenClaims,
  type CheckableRequest,
  createTokenChecker,
  TokenCheckError,
  type TokenCheckOptions,
  type TokenErrorCode,
  type VerifiedAccessToken,
} from './token-checker.ts';

/** RFC 6750 §3.1 error body (a request without a token gets `invalid_request` in the body, no code in the header). */
export const errorBody = (err: TokenCheckError) =>
  err.code === 'missing_token'
    ? { error: 'invalid_request', error_description: err.message }
    : { error: err.code, error_description: err.message };

const errorHeaders = (err: TokenCheckError) => ({
  'content-type': 'application/json',
  'cache-control': 'no-store',
  'www-authenticate': err.wwwAuthenticate,
});

/** The parts of a Koa context this uses (so that Koa is not a dependency). */
interface KoaLikeContext {
  req: CheckableRequest;
  state: Record<string, unknown>;
  status: number;
  body: unknown;
  set(name: string, value: string): void;
}

/**
 * Koa middleware: puts the verified token at `ctx.state.accessToken`, or answers 401 (400 for a
 * malformed header, 403 for a missing scope, 503 when the issuer's keys cannot be had)
 * with `WWW-Authenticate` and an RFC 6750 error body.
 */
export function koaAccessToken(options: TokenCheckOptions) {
  const checker = createTokenChecker(options);
  return async function accessToken(ctx: KoaLikeContext, next: () => Promise<unknown>): Promise<void> {
    let token: VerifiedAccessToken;
    try {
      token = await checker.check(ctx.req);
    } catch (err) {
      if (!(err instanceof TokenCheckError)) throw err;
      ctx.status = err.status;
      for (const [name, value] of Object.entries(errorHeaders(err))) ctx.set(name, value);
      ctx.body = errorBody(err);
      return;
    }
    ctx.state.accessToken = token;
    await next();
  };
}

/**
 * For plain `node:http`: resolves to the verified token, or answers the request with the error
 * and resolves to undefined.
 */
export function httpAccessToken(options: TokenCheckOptions) {
  const checker = createTokenChecker(options);
  return async function authenticate(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<VerifiedAccessToken | undefined> {
    try {
      return await checker.check(req);
    } catch (err) {
      if (!(err instanceof TokenCheckError)) throw err;
      res.writeHead(err.status, errorHeaders(err));
      res.end(JSON.stringify(errorBody(err)));
      return undefined;
    }
  };
}

/**
 * Express (4 and 5) middleware: puts the verified token at `req.accessToken` and
 * `res.locals.accessToken`, or answers with the error. Other errors go to `next(err)`.
 */
export function expressAccessToken(options: TokenCheckOptions) {
  const checker = createTokenChecker(options);
  return function accessToken(
    req: IncomingMessage & { accessToken?: VerifiedAccessToken },
    res: ServerResponse & { locals?: Record<string, unknown> },
    next: (err?: unknown) => void,
  ): void {
    checker.check(req).then(
      (token) => {
        req.accessToken = token;
        if (res.locals) res.locals.accessToken = token;
        next();
      },
      (err: unknown) => {
        if (!(err instanceof TokenCheckError)) return next(err);
        res.writeHead(err.status, errorHeaders(err));
        res.end(JSON.stringify(errorBody(err)));
      },
    );
  };
}

/** The parts of Fastify's request and reply this uses. */
interface FastifyLikeRequest {
  raw: IncomingMessage;
  accessToken?: VerifiedAccessToken;
}
interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  headers(values: Record<string, string>): FastifyLikeReply;
  send(body: unknown): unknown;
}

/**
 * A Fastify `onRequest` (or `preHandler`) hook: sets `request.accessToken`, or answers with the
 * error. Declare the property once: `fastify.decorateRequest('accessToken', null)`.
 */
export function fastifyAccessToken(options: TokenCheckOptions) {
  const checker = createTokenChecker(options);
  return async function accessToken(request: FastifyLikeRequest, reply: FastifyLikeReply): Promise<unknown> {
    try {
      request.accessToken = await checker.check(request.raw);
      return undefined;
    } catch (err) {
      if (!(err instanceof TokenCheckError)) throw err;
      // an async hook that answered returns the reply, so that the route does not run
      return reply.code(err.status).headers(errorHeaders(err)).send(errorBody(err));
    }
  };
}
