/** Stable error codes of the admin API and our own pages; clients may switch on them. */
export type ErrorCode =
  | 'invalid_request'
  | 'invalid_json'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'invalid_client_metadata'
  | 'invalid_redirect_uri'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'precondition_failed'
  | 'method_not_allowed'
  | 'too_many_requests'
  | 'server_error';

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
    this.expose = status < 500;
    this.details = details;
  }
}

export const notFound = (what: string) => new AppError('not_found', 404, `${what} not found`);
export const conflict = (message: string) => new AppError('conflict', 409, message);
/** a write that lost a race, or an If-Match naming a version that is no longer current (RFC 9110 §13.1.1) */
export const stale = () =>
  new AppError('precondition_failed', 412, 'the record changed since it was read; read it again and retry');
