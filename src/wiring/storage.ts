import type { Config } from '../config/index.ts';
import { resolveSecretsKey } from '../config/secrets-key.ts';
import { type Database, openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrator.ts';
import type { Logger } from '../logger.ts';
import { type DerivedKeys, deriveKeys } from '../services/secrets.ts';
import type { Lifetime } from './lifetime.ts';

export interface Storage {
  readonly db: Database;
  /** the keys derived from SECRETS_KEY (cookies, CSRF, key encryption, client secret and event digests) */
  readonly secrets: DerivedKeys;
}

/** The secrets and the database, migrated to the current schema; the database closes with the lifetime. */
export async function openStorage(config: Config, log: Logger, lifetime: Lifetime): Promise<Storage> {
  const secrets = deriveKeys(resolveSecretsKey(config, log));
  const db = await openDatabase(config, log);
  lifetime.defer(() => db.close());
  const applied = await migrate(db, log);
  log.info(
    { applied },
    applied.length ? `applied ${applied.length} database migration(s)` : 'database schema up to date',
  );
  return { db, secrets };
}
