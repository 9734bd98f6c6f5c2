// first: refuses a Node.js too old to run us, before anything native is loaded
import './node-version.ts';
import { ConfigError, loadConfig } from './config/index.ts';
import { createLogger } from './logger.ts';
import { startServer } from './server.ts';
import { explainStartupError } from './startup-errors.ts';

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

// a person at a terminal in development reads lines; anything else (a collector) gets JSON
const pretty = config.env !== 'production' && process.stdout.isTTY === true;
const log = createLogger(config.logLevel, { pretty });
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
  // the usual failures (database, port, DATA_DIR, TLS files) in one line naming the fix, no stack
  const line = explainStartupError(err, config);
  if (line === undefined) {
    log.fatal({ err }, 'start-up failed');
  } else {
    log.fatal(`start-up failed: ${line}`);
    // the JSON line may be on its way to a collector: say it plainly to a person watching too
    if (!pretty && process.stderr.isTTY) process.stderr.write(`start-up failed: ${line}\n`);
  }
  process.exit(1);
}
