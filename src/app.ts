import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { Config } from './config/index.ts';
import type { Database } from './db/database.ts';
import type { Logger } from './logger.ts';
import { ADMIN_SCOPES } from './services/admin-delegation.ts';
import { ensureBuiltInClients } from './services/builtin-clients.ts';
import { createHttpSurface } from './wiring/http.ts';
import { startJobs } from './wiring/jobs.ts';
import { createLifetime } from './wiring/lifetime.ts';
import { clientValidator, createOidc, createProviderHolder } from './wiring/provider.ts';
import { createRepositories } from './wiring/repositories.ts';
import { createServices, type Services } from './wiring/services.ts';
import { openStorage } from './wiring/storage.ts';

export interface App {
  /** the request listener: oidc-provider's Koa app with our routes in front (rebuilt when keys rotate) */
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  readonly issuer: string;
  readonly db: Database;
  readonly services: Pick<
    Services,
    | 'clients'
    | 'clientSecrets'
    | 'federation'
    | 'resources'
    | 'keys'
    | 'accessTokens'
    | 'accounts'
    | 'roles'
    | 'events'
    | 'protection'
    | 'sessions'
  >;
  provider(): Provider;
  close(): Promise<void>;
}

/** The composition root: storage -> repositories -> services -> provider -> HTTP -> jobs. */
export async function createApp(config: Config, issuer: string, log: Logger): Promise<App> {
  const lifetime = createLifetime();
  try {
    const { db, secrets } = await openStorage(config, log, lifetime);
    const repos = createRepositories(db);
    // built once the services and the HTTP surface exist, rebuilt when the keys change
    const holder = createProviderHolder();
    const validateClient = clientValidator(holder);
    const services = await createServices({ config, issuer, log, db, secrets, repos, lifetime, validateClient });
    const oidc = createOidc({ config, issuer, log, secrets, repos, services, holder });
    const http = await createHttpSurface({
      ...{ config, issuer, log, db, secrets, services, holder, oidc, lifetime },
      replay: repos.replayKeys,
    });
    holder.use(() => oidc.build(http.pages, http.install));
    await ensureBuiltInClients(services.clients, {
      issuer,
      admin: config.adminClient,
      adminAudience: services.adminAudience,
      adminScopes: ADMIN_SCOPES,
      consoleSecret: secrets.consoleClientSecret,
    });
    startJobs({ config, log, repos, services, holder, lifetime });
    return {
      callback: () => holder.listener,
      issuer,
      db,
      services,
      provider: holder.current,
      close: lifetime.close,
    };
  } catch (err) {
    await lifetime.close().catch((closeErr: unknown) => log.warn({ err: closeErr }, 'cleanup after a failed start'));
    throw err;
  }
}
