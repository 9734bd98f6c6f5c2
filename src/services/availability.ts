/**
 * Whether an error means "the database cannot be reached right now" rather than "this request
 * is wrong" or "our code is wrong": the one place that knows the shapes such errors take, so
 * that the error writer can answer 503 with `Retry-After` (RFC 9110 §15.6.4) instead of a 500,
 * and the caches can keep serving what they hold (static stability).
 *
 * The shapes, from the bottom up:
 * - `pg` (node-postgres): socket errors (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, ...), its own
 *   messages for a connection that died or never came (`Connection terminated unexpectedly`,
 *   `timeout exceeded when trying to connect`), and PostgreSQL's SQLSTATE in `code`;
 * - Prisma 7's `@prisma/adapter-pg` turns those into a `DriverAdapterError` whose `cause.kind`
 *   is `DatabaseNotReachable`, `ConnectionClosed`, `SocketTimeout` or `TooManyConnections`, or
 *   `postgres` with the SQLSTATE in `cause.code`/`cause.originalCode`;
 * - the Prisma client wraps that in a `PrismaClientKnownRequestError` (`code` P1001, P1017, ...,
 *   the adapter's error under `meta.driverAdapterError`), or rethrows `pg`'s own error with a
 *   `clientVersion` added (a connection that died mid-query).
 */

/** What a client is told to wait before retrying: a failover takes seconds (docs/scaling.md). */
export const RETRY_AFTER_SECONDS = 5;

const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);

/**
 * SQLSTATEs (PostgreSQL, Appendix A) that say the server is going away or not (yet) the
 * primary: class 08 (connection exception), 57P01 admin_shutdown, 57P02 crash_shutdown,
 * 57P03 cannot_connect_now (starting up, or in recovery), 53300 too_many_connections, and
 * 25006 read_only_sql_transaction: a write that reached a node demoted by a failover (or a
 * replica promoted a moment too late) before the proxy moved the connections.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '25006']);

/** Prisma's codes for a database it cannot reach or that went away (prisma.io/docs/orm/reference/error-reference). */
const PRISMA_CODES = new Set([
  'P1001', // can't reach database server
  'P1002', // the database server was reached but timed out
  'P1008', // operations timed out
  'P1017', // server has closed the connection
  'P2024', // timed out fetching a new connection from the connection pool
  'P2037', // too many database connections opened
]);

const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);

const MESSAGES = [
  /Connection terminated/i, // pg: unexpectedly, or due to connection timeout
  /timeout exceeded when trying to connect/i, // pg.Pool's connectionTimeoutMillis
  /Client has encountered a connection error and is not queryable/i,
  /Can't reach database server/i,
  /Server has closed the connection/i,
];

const isSqlState = (code: string) => /^[0-9A-Z]{5}$/.test(code);

const unavailableCode = (code: unknown): boolean =>
  typeof code === 'string' &&
  (SOCKET_CODES.has(code) ||
    PRISMA_CODES.has(code) ||
    ADAPTER_KINDS.has(code) ||
    (isSqlState(code) && (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code))));

type Shape = {
  code?: unknown;
  errorCode?: unknown;
  kind?: unknown;
  originalCode?: unknown;
  message?: unknown;
  meta?: { driverAdapterError?: unknown };
  cause?: unknown;
  errors?: unknown;
};

/** True when `err` (or what it wraps) says the database is unreachable or cannot take this query now. */
export function isDatabaseUnavailable(err: unknown): boolean {
  return look(err, 0);
}

function look(err: unknown, depth: number): boolean {
  if (depth > 5 || typeof err !== 'object' || err === null) return false;
  const e = err as Shape;
  if (
    unavailableCode(e.code) ||
    unavailableCode(e.errorCode) ||
    unavailableCode(e.kind) ||
    unavailableCode(e.originalCode)
  ) {
    return true;
  }
  if (typeof e.message === 'string' && MESSAGES.some((m) => m.test(e.message as string))) return true;
  if (look(e.meta?.driverAdapterError, depth + 1) || look(e.cause, depth + 1)) return true;
  // net's happy eyeballs: one error per address tried (AggregateError)
  return Array.isArray(e.errors) && e.errors.some((inner) => look(inner, depth + 1));
}
