import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type App, createApp } from './app.ts';
import type { Config } from './config/index.ts';
import type { Logger } from './logger.ts';

export interface RunningServer {
  readonly url: string;
  readonly issuer: string;
  readonly app: App;
  /** graceful: stop accepting, let requests in flight finish (up to `graceMs`), close the database */
  close(graceMs?: number): Promise<void>;
  /** re-reads TLS_CERT_FILE and TLS_KEY_FILE (SIGHUP) */
  reloadTls(): void;
}

function tlsOptions(tls: NonNullable<Config['tls']>) {
  return {
    cert: readFileSync(tls.certFile),
    key: readFileSync(tls.keyFile),
    ...(tls.clientCaFile
      ? // ask for a client certificate but let the token endpoint decide (mTLS client auth is per client)
        { ca: readFileSync(tls.clientCaFile), requestCert: true, rejectUnauthorized: false }
      : {}),
  };
}

/**
 * Builds the app (migrations, keys, provider), then listens: a load balancer or a probe that
 * reaches a (re)started instance finds it ready to serve, never a half-built one. Only with
 * PORT=0 and no ISSUER (development and tests), where the issuer must name the port the system
 * chooses, does it listen first and answer 503 until the app is built.
 */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
    res.end('{"error":"temporarily_unavailable","error_description":"starting"}');
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => handler(req, res);
  const server: Server | HttpsServer = config.tls
    ? createHttpsServer(tlsOptions(config.tls), listener)
    : createHttpServer(listener);
  server.keepAliveTimeout = 65_000;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  const scheme = config.tls ? 'https' : 'http';
  const portNow = () => (server.address() as AddressInfo).port;

  const listenFirst = config.issuer === undefined;
  if (listenFirst) await listen();
  const issuer = config.issuer ?? `${scheme}://localhost:${portNow()}`;
  let app: App;
  try {
    app = await createApp(config, issuer, log);
  } catch (err) {
    server.close();
    throw err;
  }
  handler = app.callback();
  if (!listenFirst) {
    try {
      await listen();
    } catch (err) {
      await app.close().catch((closeErr: unknown) => log.warn({ err: closeErr }, 'cleanup after a failed listen'));
      throw err;
    }
  }
  const port = portNow();
  const url = `${scheme}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  // `url` is what to open: the issuer (cookies and redirects are bound to its host, so the
  // bound address, e.g. 127.0.0.1 for an issuer on localhost, would lead to an expired sign-in)
  log.info({ url: issuer, issuer, boundAddress: url, database: app.db.kind }, 'listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    issuer,
    app,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        const drained = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        await drained;
        clearTimeout(timer);
        await app.close();
      })();
      return closing;
    },
    reloadTls() {
      if (!config.tls || !('setSecureContext' in server)) return;
      server.setSecureContext(tlsOptions(config.tls));
      log.info('TLS certificate reloaded');
    },
  };
}
