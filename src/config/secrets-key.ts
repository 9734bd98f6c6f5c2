import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger.ts';
import type { Config } from './index.ts';
import { securePrivateDir } from './private-dir.ts';

/**
 * SECRETS_KEY from the environment, or, outside production, one generated once into
 * DATA_DIR/secrets.key (readable by the owner only) so that a restart keeps keys and cookies.
 */
export function resolveSecretsKey(config: Config, log: Logger): string {
  if (config.secretsKey !== undefined) return config.secretsKey;
  if (config.env === 'production') throw new Error('SECRETS_KEY: required when NODE_ENV=production');
  const file = join(config.dataDir, 'secrets.key');
  securePrivateDir(config.dataDir, log);
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length >= 32) return existing;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const generated = randomBytes(32).toString('base64url');
  writeFileSync(file, `${generated}\n`, { mode: 0o600, flag: 'wx' });
  log.warn({ file }, 'generated a development SECRETS_KEY; set SECRETS_KEY in production');
  return generated;
}
