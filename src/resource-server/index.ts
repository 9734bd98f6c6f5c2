/**
 * Token checking for the APIs (resource servers) of this issuer: validates its RFC 9068
 * access tokens locally, sender constraints included, without calling the issuer per request.
 * See docs/resource-servers.md.
 *
 * @example Koa
 * ```ts
 * import { koaAccessToken } from './resource-server/index.ts'; // this folder: it needs only `jose`
 * app.use(koaAccessToken({ issuer: 'https://id.example', audience: 'https://orders.example', scopes: ['orders:read'] }));
 * app.use((ctx) => { ctx.body = { caller: ctx.state.accessToken.claims.sub } });
 * ```
 *
 * @example node:http
 * ```ts
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
export {
  type AccessTokenClaims,
  type CheckableRequest,
  createTokenChecker,
  TokenCheckError,
  type TokenCheckOptions,
  type TokenErrorCode,
  type VerifiedAccessToken,
} from './token-checker.ts';

const errorBody = (err: TokenCheckError) =>
  JSON.stringify(
    err.code === 'missing_token'
      ? { error: 'invalid_request', error_description: err.message }
      : { error: err.code, error_description: err.message },
  );

/** The parts of a Koa context this uses (so that Koa is not a dependency of the API). */
interface KoaLikeContext {
  req: CheckableRequest;
  state: Record<string, unknown>;
  status: number;
  body: unknown;
  set(name: string, value: string): void;
}

/**
 * Koa middleware: puts the verified token at `ctx.state.accessToken`, or answers 401 (400 for a
 * malformed header, 403 for a missing scope, 503 when the issuer's keys cannot be fetched)
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
      ctx.set('WWW-Authenticate', err.wwwAuthenticate);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = JSON.parse(errorBody(err));
      return;
    }
    ctx.state.accessToken = token;
    await next();
  };
}

/**
 * For plain `node:http` (and Express-style servers): resolves to the verified token, or answers
 * the request with the error and resolves to undefined.
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
      res.writeHead(err.status, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        'www-authenticate': err.wwwAuthenticate,
      });
      res.end(errorBody(err));
      return undefined;
    }
  };
}
