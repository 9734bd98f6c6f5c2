/**
 * Stable error codes of the admin API and our own pages; clients may switch on them, and so
 * may our code (a `switch (err.code)` narrows). Each names the status it is thrown with.
 * Protocol errors inside oidc-provider's hooks and policies are not these: they use
 * oidc-provider's `errors.*`, whose codes RFC 6749 §5.2 and its extensions define.
 */
export type ErrorCode =
  /**
   * 400: the request is malformed, or a field breaks a rule; `details` names the fields.
   * Also 414 for a URL longer than any endpoint takes (RFC 9110 §15.5.15).
   */
  | 'invalid_request'
  /** 400: the body is not JSON */
  | 'invalid_json'
  /** 415: the body is not of the type the endpoint reads (RFC 9110 §15.5.16) */
  | 'unsupported_media_type'
  /** 413: the body is larger than any endpoint takes (RFC 9110 §15.5.14) */
  | 'payload_too_large'
  /** 400: client metadata oidc-provider refuses (RFC 7591 §3.2.2) */
  | 'invalid_client_metadata'
  /** 400: a redirect URI oidc-provider refuses (RFC 7591 §3.2.2) */
  | 'invalid_redirect_uri'
  /** 401: no access token, or one that is not (or no longer) valid (RFC 6750 §3.1) */
  | 'invalid_token'
  /** 403: a valid token without the power the request needs (RFC 6750 §3.1) */
  | 'insufficient_scope'
  /** 403: refused for another reason than the token's scope */
  | 'forbidden'
  /** 404: no such record, or no such path */
  | 'not_found'
  /** 409: a unique name or id is taken */
  | 'conflict'
  /** 412: the record changed since the caller read it (RFC 9110 §13.1.1) */
  | 'precondition_failed'
  /** 405: the path exists with other methods; the response lists them in `Allow` */
  | 'method_not_allowed'
  /** 429: over a rate limit; the response says when to retry in `Retry-After` (RFC 6585 §4) */
  | 'too_many_requests'
  /** 500: anything unexpected; the response never says what */
  | 'server_error'
  /**
   * 503: the database cannot be reached right now (an outage, a failover); the response says
   * when to retry in `Retry-After` (RFC 9110 §15.6.4). RFC 6749 §4.1.2.1 names the code.
   */
  | 'temporarily_unavailable';

export interface ErrorDetail {
  /** the offending field, as a dotted path (`redirect_uris.0`) */
  field: string;
  message: string;
}

/**
 * The one application error: a stable code, an HTTP status and whether its message may be
 * shown to the caller. A 5xx never is.
 */
export class AppError extends Error {
  override name = 'AppError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly details: ErrorDetail[] | undefined;

  constructor(code: ErrorCode, status: number, message: string, details?: ErrorDetail[]) {
    super(message);
    this.code = code;
    this.status = status;
    // a 503 says only that the service is unavailable, which the caller may know
    this.expose = status < 500 || code === 'temporarily_unavailable';
    this.details = details;
  }
}

export const notFound = (what: string) => new AppError('not_found', 404, `${what} not found`);
export const conflict = (message: string, details?: ErrorDetail[]) => new AppError('conflict', 409, message, details);
/** a write that lost a race, or an If-Match naming a version that is no longer current (RFC 9110 §13.1.1) */
export const stale = () =>
  new AppError('precondition_failed', 412, 'the record changed since it was read; read it again and retry');
/** the database is out of reach: 503, retry in a few seconds */
export const unavailable = () =>
  new AppError('temporarily_unavailable', 503, 'the service is temporarily unavailable; retry in a few seconds');
/** a field that breaks a rule: 400 naming it */
export const invalidField = (field: string, message: string) =>
  new AppError('invalid_request', 400, message, [{ field, message }]);
