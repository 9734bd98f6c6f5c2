import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { type JWTPayload, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { certificateFromSocket, certificateThumbprint, parseForwardedCertificate } from './client-certificate.ts';
import { DPOP_ALGORITHMS, DpopProofError, memoryReplayCache, type ReplayCache, verifyDpopProof } from './dpop.ts';
import { type KeyCacheOptions, KeysUnavailableError, remoteKeySet } from './jwks-cache.ts';

export interface TokenCheckOptions extends KeyCacheOptions {
  /** the issuer, exactly as in its discovery document (`iss` of its tokens) */
  issuer: string;
  /** this API's resource identifier, as registered with the issuer (`aud`) */
  audience: string;
  /** where the issuer publishes its keys (default `<issuer>/jwks`); cached, see `cacheMaxAge`, `refetchInterval`, `staleIfError` */
  jwksUri?: string;
  /** scopes every request must carry; check finer ones per route with `token.scopes` */
  scopes?: readonly string[];
  /** seconds of clock skew allowed on `exp`, `nbf` and DPoP `iat` (default 5) */
  clockTolerance?: number;
  /** `required`: refuse plain bearer tokens, accept only DPoP- or certificate-bound ones (default `optional`) */
  senderConstraint?: 'optional' | 'required';
  /** DPoP proofs: maximum age in seconds (default 60) and the replay cache (default: in memory) */
  dpop?: { maxAge?: number; replayCache?: ReplayCache };
  /**
   * The header in which a TLS-terminating proxy you trust forwards the client certificate.
   * Unset: the certificate of the TLS connection itself. Set it only when every request comes
   * through that proxy and the proxy overwrites the header.
   */
  clientCertificateHeader?: string;
  /** the URL the client called, for DPoP `htu`; default: scheme of the socket, `Host`, path. Set it from your API's configured public URL: the `Host` header is written by the client */
  requestUrl?: (req: CheckableRequest) => string;
  /** a key source other than `jwksUri` (tests, or keys already in memory) */
  keys?: JWTVerifyGetKey;
}

/** What a Node `IncomingMessage` offers; Koa's `ctx.req` is one. */
export interface CheckableRequest {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
  socket: Socket;
}

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  client_id: string;
  scope?: string;
  cnf?: { jkt?: string; 'x5t#S256'?: string };
}

/** A verified access token. */
export interface VerifiedAccessToken {
  token: string;
  claims: AccessTokenClaims;
  scopes: ReadonlySet<string>;
  /** how the caller proved it holds the token: a DPoP key, its TLS certificate, or not at all */
  binding: 'dpop' | 'mtls' | 'bearer';
}

export type TokenErrorCode =
  | 'missing_token'
  | 'invalid_request'
  | 'invalid_token'
  | 'invalid_dpop_proof'
  | 'insufficient_scope'
  | 'temporarily_unavailable';

/** Why a request was refused; `status` and `wwwAuthenticate` are the answer RFC 6750 §3 and RFC 9449 §7.1 ask for. */
export class TokenCheckError extends Error {
  override name = 'TokenCheckError';
  readonly code: TokenErrorCode;
  readonly status: 400 | 401 | 403 | 503;
  readonly wwwAuthenticate: string;

  constructor(code: TokenErrorCode, description: string, options: { scheme?: 'Bearer' | 'DPoP'; scope?: string } = {}) {
    super(description);
    this.code = code;
    this.status = STATUS[code];
    const algs = `algs="${DPOP_ALGORITHMS.join(' ')}"`;
    if (code === 'missing_token') {
      // RFC 6750 §3.1: no error code when the request carried no credentials
      this.wwwAuthenticate = `Bearer, DPoP ${algs}`;
    } else {
      const params = [`error="${code}"`, `error_description="${description.replace(/["\\]/g, '')}"`];
      if (options.scope) params.push(`scope="${options.scope}"`);
      this.wwwAuthenticate =
        options.scheme === 'DPoP' ? `DPoP ${params.join(', ')}, ${algs}` : `Bearer ${params.join(', ')}`;
    }
  }
}

const STATUS = {
  missing_token: 401,
  invalid_request: 400,
  invalid_token: 401,
  invalid_dpop_proof: 401,
  insufficient_scope: 403,
  // the issuer's keys could not be fetched: the token may be fine, so not a 401
  temporarily_unavailable: 503,
} as const;

const ACCESS_TOKEN_ALGORITHMS = ['ES256', 'RS256', 'PS256', 'EdDSA'];
const AUTHORIZATION = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i;

function defaultRequestUrl(req: CheckableRequest): string {
  const scheme = (req.socket as Socket & { encrypted?: boolean }).encrypted ? 'https' : 'http';
  return new URL(req.url ?? '/', `${scheme}://${req.headers.host ?? 'localhost'}`).href;
}

/**
 * Checks RFC 9068 access tokens of one issuer for one API, locally: signature against the
 * issuer's JWKS, `typ` at+jwt, `iss`, `aud`, `exp`/`nbf`, the required scopes, and the sender
 * constraint the token carries (RFC 9449 DPoP proof, or RFC 8705 certificate thumbprint).
 * Revocation is not seen: keep token lifetimes short, or ask the issuer's introspection endpoint.
 */
export function createTokenChecker(options: TokenCheckOptions) {
  const keys = options.keys ?? remoteKeySet(new URL(options.jwksUri ?? `${options.issuer}/jwks`), options);
  const tolerance = options.clockTolerance ?? 5;
  const replay = options.dpop?.replayCache ?? memoryReplayCache();
  const requestUrl = options.requestUrl ?? defaultRequestUrl;
  const required = options.scopes ?? [];

  async function check(req: CheckableRequest): Promise<VerifiedAccessToken> {
    const header = req.headers.authorization;
    if (!header) throw new TokenCheckError('missing_token', 'an access token is required');
    const match = AUTHORIZATION.exec(header);
    if (!match?.[1] || !match[2]) throw new TokenCheckError('invalid_request', 'the Authorization header is malformed');
    const scheme = match[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const token = match[2];
    const fail = (code: TokenErrorCode, description: string) => new TokenCheckError(code, description, { scheme });

    let claims: AccessTokenClaims;
    try {
      const verified = await jwtVerify<AccessTokenClaims>(token, keys, {
        issuer: options.issuer,
        audience: options.audience,
        // RFC 9068 §4: the type tells an access token from an ID token signed with the same key
        typ: 'at+jwt',
        algorithms: ACCESS_TOKEN_ALGORITHMS,
        clockTolerance: tolerance,
        requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id'],
      });
      claims = verified.payload;
    } catch (err) {
      if (keysUnavailable(err)) throw fail('temporarily_unavailable', 'the issuer keys could not be fetched');
      throw fail('invalid_token', describe(err));
    }

    const binding = await senderConstraint(req, { token, scheme, cnf: claims.cnf }, { ...options, replay, requestUrl });
    if (binding === 'bearer' && options.senderConstraint === 'required') {
      throw fail('invalid_token', 'a sender-constrained (DPoP or certificate-bound) access token is required');
    }

    const scopes = new Set((claims.scope ?? '').split(' ').filter(Boolean));
    const missing = required.filter((scope) => !scopes.has(scope));
    if (missing.length > 0) {
      throw new TokenCheckError('insufficient_scope', `this needs the scope ${missing.join(' ')}`, {
        scheme,
        scope: required.join(' '),
      });
    }
    return { token, claims, scopes, binding };
  }

  return { check };
}

export interface SenderConstraintOptions {
  clockTolerance?: number | undefined;
  dpop?: { maxAge?: number } | undefined;
  replay: ReplayCache;
  clientCertificateHeader?: string | undefined;
  requestUrl: (req: CheckableRequest) => string;
}

/**
 * Checks that the caller holds what the token is bound to (its `cnf`): RFC 9449 §7 a DPoP proof
 * signed with the bound key, for this request and this token, used once; RFC 8705 §3 the TLS
 * client certificate whose thumbprint the token carries. Unbound tokens pass as `bearer`.
 * @throws TokenCheckError
 */
export async function senderConstraint(
  req: CheckableRequest,
  presented: { token: string; scheme: 'Bearer' | 'DPoP'; cnf: AccessTokenClaims['cnf'] },
  options: SenderConstraintOptions,
): Promise<VerifiedAccessToken['binding']> {
  const { token, scheme } = presented;
  const tolerance = options.clockTolerance ?? 5;
  const fail = (code: TokenErrorCode, description: string) => new TokenCheckError(code, description, { scheme });
  const replay = options.replay;
  const requestUrl = options.requestUrl;
  let binding: VerifiedAccessToken['binding'] = 'bearer';
  const jkt = presented.cnf?.jkt;
  const x5t = presented.cnf?.['x5t#S256'];
  if (jkt !== undefined) {
    // RFC 9449 §7.2: a DPoP-bound token sent as a bearer token is refused
    if (scheme !== 'DPoP') throw fail('invalid_token', 'this access token is DPoP-bound: use the DPoP scheme');
    const proof = req.headers.dpop;
    if (typeof proof !== 'string' || proof === '' || proof.includes(',')) {
      throw fail('invalid_dpop_proof', 'exactly one DPoP proof is required');
    }
    let verified: Awaited<ReturnType<typeof verifyDpopProof>>;
    try {
      verified = await verifyDpopProof(proof, {
        method: req.method ?? 'GET',
        url: requestUrl(req),
        accessToken: token,
        maxAge: options.dpop?.maxAge,
        clockTolerance: tolerance,
      });
    } catch (err) {
      throw fail('invalid_dpop_proof', err instanceof DpopProofError ? err.message : 'the DPoP proof is invalid');
    }
    if (verified.jkt !== jkt) throw fail('invalid_dpop_proof', 'the DPoP proof is signed with another key');
    const expiresAt = verified.iat + (options.dpop?.maxAge ?? 60) + tolerance;
    if (!(await replay.firstUse(`${jkt}:${verified.jti}`, expiresAt))) {
      throw fail('invalid_dpop_proof', 'the DPoP proof was used before');
    }
    binding = 'dpop';
  } else if (scheme === 'DPoP') {
    throw fail('invalid_token', 'this access token is not DPoP-bound: use the Bearer scheme');
  }
  if (x5t !== undefined) {
    // RFC 8705 §3: the certificate of this connection must be the one the token is bound to
    const cert = options.clientCertificateHeader
      ? parseForwardedCertificate(headerValue(req.headers[options.clientCertificateHeader.toLowerCase()]))
      : certificateFromSocket(req.socket);
    if (!cert || certificateThumbprint(cert) !== x5t) {
      throw fail('invalid_token', 'this access token is bound to another client certificate');
    }
    binding = binding === 'dpop' ? 'dpop' : 'mtls';
  }
  return binding;
}

const headerValue = (value: string | string[] | undefined) => (Array.isArray(value) ? undefined : value);

function describe(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'the access token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return 'the access token is not for this API';
    if (err.claim === 'nbf') return 'the access token is not valid yet';
    if (err.claim === 'iss') return 'the access token is from another issuer';
    if (err.claim === 'typ') return 'this is not an access token (typ must be at+jwt)';
    return `the access token has a bad ${err.claim} claim`;
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return 'the access token is signed with a key the issuer does not publish';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the access token signature is invalid';
  return 'the access token is invalid';
}

/** A network failure or a bad answer from the JWKS endpoint, as opposed to a bad token. */
const keysUnavailable = (err: unknown) =>
  err instanceof KeysUnavailableError ||
  err instanceof joseErrors.JWKSTimeout ||
  !(err instanceof joseErrors.JOSEError);
