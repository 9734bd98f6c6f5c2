// first: refuses a Node.js too old to run us, before anything native is loaded
import './node-version.ts';
import { ConfigError, loadConfig } from './config/index.ts';
import { createLogger } from './logger.ts';
import { startServer } from './server.ts';

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`configuration error: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

const log = createLogger(config.logLevel);
try {
  const server = await startServer(config, log);
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      server.reloadTls();
    } catch (err) {
      log.error({ err }, 'TLS reload failed; the previous certificate stays in use');
    }
  });
} catch (err) {
  log.fatal({ err }, 'start-up failed');
  process.exit(1);
}
