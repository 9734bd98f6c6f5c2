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
 * Listens first, so that with PORT=0 and no ISSUER the issuer can name the port the system
 * chose; requests that arrive while the app is still starting get a 503.
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

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const scheme = config.tls ? 'https' : 'http';
  const url = `${scheme}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const issuer = config.issuer ?? `${scheme}://localhost:${port}`;

  let app: App;
  try {
    app = await createApp(config, issuer, log);
  } catch (err) {
    server.close();
    throw err;
  }
  handler = app.callback();
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
