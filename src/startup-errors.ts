import { isAbsolute, relative, resolve } from 'node:path';
import type { Config } from './config/index.ts';
import { DataDirInUseError } from './db/database.ts';
import { CatalogError } from './services/catalog-files.ts';

type StartupConfig = Pick<Config, 'host' | 'port' | 'databaseUrl' | 'databaseDirectUrl' | 'dataDir' | 'tls'>;

interface SystemError {
  code?: unknown;
  message?: unknown;
  syscall?: unknown;
  path?: unknown;
  address?: unknown;
  port?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/** The error and what it wraps (pg and net wrap causes in `cause` and, for several addresses, `errors`). */
function* chain(err: unknown, depth = 0): Generator<SystemError> {
  if (depth > 5 || typeof err !== 'object' || err === null) return;
  const e = err as SystemError;
  yield e;
  yield* chain(e.cause, depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* chain(inner, depth + 1);
}

/** `host:port` of a database URL, never its user or password. */
function target(url: string): { where: string; user: string; database: string } {
  try {
    const u = new URL(url);
    return {
      where: `${u.hostname || 'localhost'}:${u.port || '5432'}`,
      user: decodeURIComponent(u.username),
      database: decodeURIComponent(u.pathname.slice(1)),
    };
  } catch {
    return { where: 'the host in DATABASE_URL', user: '', database: '' };
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EAI_AGAIN']);
// pg's own words when a connection attempt runs past connectionTimeoutMillis (client and pool)
const CONNECT_TIMEOUT = /connection timeout|timeout expired|timeout exceeded when trying to connect/i;

function database(errors: SystemError[], config: StartupConfig): string | undefined {
  if (config.databaseUrl === undefined) return undefined;
  // the direct URL serves the migrator and LISTEN: name it when the failing address is its own
  const direct = config.databaseDirectUrl ?? config.databaseUrl;
  const failedPort = errors.find((e) => typeof e.port === 'number')?.port;
  const viaDirect =
    direct !== config.databaseUrl && failedPort !== undefined && target(direct).where.endsWith(`:${failedPort}`);
  const variable = viaDirect ? 'DATABASE_DIRECT_URL' : 'DATABASE_URL';
  const db = target(viaDirect ? direct : config.databaseUrl);
  for (const e of errors) {
    const code = e.code;
    if (code === '3D000') {
      const name = /database "(.+)" does not exist/.exec(String(e.message))?.[1] ?? db.database;
      return `database "${name}" does not exist on PostgreSQL at ${db.where}: create it with createdb ${name} (or correct ${variable})`;
    }
    if (code === '28P01') {
      return `PostgreSQL at ${db.where} refused the password for user "${db.user}" (28P01): check the user and password in ${variable}`;
    }
    if (code === '28000') {
      // e.g. no pg_hba.conf entry, or a role that does not exist: PostgreSQL's reason names neither secret
      return `PostgreSQL at ${db.where} refused user "${db.user}" (28000: ${String(e.message)}): check the user in ${variable} and pg_hba.conf`;
    }
    if (code === 'ENOTFOUND') {
      return `cannot resolve the PostgreSQL host in ${variable} (${db.where}): check ${variable}`;
    }
    if ((typeof code === 'string' && UNREACHABLE.has(code)) || CONNECT_TIMEOUT.test(String(e.message))) {
      const why = typeof code === 'string' && UNREACHABLE.has(code) ? code : 'timeout';
      return `cannot reach PostgreSQL at ${db.where} (${why}): is PostgreSQL running? check ${variable}`;
    }
  }
  return undefined;
}

function within(path: string, dir: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

const FS_DENIED = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'ENOSPC', 'EEXIST', 'ENOENT']);

/**
 * One line saying what stopped start-up and how to fix it, for the failures operators meet
 * most; undefined for anything else (that one is logged in full, with its stack).
 * Never holds the password of DATABASE_URL: only host, port, user and database name are named.
 */
export function explainStartupError(err: unknown, config: StartupConfig): string | undefined {
  if (err instanceof DataDirInUseError || err instanceof CatalogError) return err.message;
  const errors = [...chain(err)];
  for (const e of errors) {
    const code = typeof e.code === 'string' ? e.code : undefined;
    if (e.syscall === 'listen' && code !== undefined) {
      const where = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
      if (code === 'EADDRINUSE')
        return `another process listens on ${where}; stop it or set PORT (or HOST) to a free one`;
      if (code === 'EACCES' || code === 'EPERM') {
        return `permission denied to listen on ${where}: ports below 1024 need privileges; set PORT to 1024 or above (and forward to it)`;
      }
      if (code === 'EADDRNOTAVAIL')
        return `${config.host} is not an address of this machine; set HOST (e.g. 0.0.0.0 or 127.0.0.1)`;
    }
    const path = typeof e.path === 'string' ? e.path : undefined;
    if (path !== undefined && code !== undefined && config.tls) {
      const files = [
        ['TLS_CERT_FILE', config.tls.certFile],
        ['TLS_KEY_FILE', config.tls.keyFile],
        ['TLS_CLIENT_CA_FILE', config.tls.clientCaFile],
      ] as const;
      const hit = files.find(([, file]) => file !== undefined && resolve(file) === resolve(path));
      if (hit) return `cannot read ${hit[0]} ${path} (${code}): check the path and that this user may read it`;
    }
    if (path !== undefined && code !== undefined && FS_DENIED.has(code) && within(path, config.dataDir)) {
      return `DATA_DIR ${resolve(config.dataDir)} is not writable (${code} on ${path}): make it a directory this user (uid ${process.getuid?.() ?? '?'}) can write, or set DATA_DIR`;
    }
    // OpenSSL refusing what it read: the files exist but are not a PEM certificate and key (or do not match)
    if (config.tls && code?.startsWith('ERR_OSSL')) {
      return `TLS_CERT_FILE and TLS_KEY_FILE cannot be used (${String(e.message)}): they must be a PEM certificate and its private key`;
    }
  }
  return database(errors, config);
}
