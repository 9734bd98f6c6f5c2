import { parseArgs } from 'node:util';
import { createApp, openCore } from '../app.ts';
import { ConfigError, loadConfig } from '../config/index.ts';
import { migrate } from '../db/migrator.ts';
import { createLogger } from '../logger.ts';
import { CACHE_CHANNEL } from '../services/cache.ts';

const USAGE = `usage: npm run idp -- <command> [options]

commands:
  migrate                         apply pending database migrations
  keys rotate                     make new signing keys current (the old ones verify until they expire)
  keys list                       list the signing keys
  client create --name NAME [--resource IDENTIFIER=scope,scope ...] [--redirect-uri URI ...] [--public]
                                  register a client; prints it with its secret (shown once)
  resource create --identifier URI --name NAME [--scope SCOPE ...] [--ttl SECONDS]
                                  register an API

The database and secrets come from the same environment variables as the server (DATABASE_URL, DATA_DIR, SECRETS_KEY, ...).
The embedded database belongs to one process: stop the server before running commands against it.`;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const [command, sub] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(`configuration error: ${err.message}`);
    throw err;
  }
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

  if (command === 'migrate') {
    const { db } = await openCore(config, log);
    try {
      const applied = await migrate(db, log);
      print({ applied });
    } finally {
      await db.close();
    }
    return;
  }

  if (command === 'keys' && (sub === 'rotate' || sub === 'list')) {
    const { db, keys } = await openCore(config, log);
    try {
      if (sub === 'rotate') {
        const kids = await keys.rotate();
        // running instances switch to the new keys at once
        await db.notify(CACHE_CHANNEL, JSON.stringify({ topic: 'keys' }));
        print({ rotated: kids });
      } else {
        print((await keys.load()).keys);
      }
    } finally {
      await db.close();
    }
    return;
  }

  const args = argv.slice(2);
  const issuer = config.issuer ?? `http://localhost:${config.port}`;

  if (command === 'client' && sub === 'create') {
    const { values } = parseArgs({
      args,
      options: {
        name: { type: 'string' },
        resource: { type: 'string', multiple: true },
        'redirect-uri': { type: 'string', multiple: true },
        public: { type: 'boolean' },
        'first-party': { type: 'boolean' },
      },
    });
    if (!values.name) fail('client create needs --name');
    const allowedResources: Record<string, string[]> = {};
    for (const entry of values.resource ?? []) {
      const at = entry.lastIndexOf('=');
      if (at <= 0) fail(`--resource takes IDENTIFIER=scope,scope (got ${entry})`);
      allowedResources[entry.slice(0, at)] = entry
        .slice(at + 1)
        .split(',')
        .filter(Boolean);
    }
    const redirectUris = values['redirect-uri'] ?? [];
    const app = await createApp(config, issuer, log);
    try {
      const interactive = redirectUris.length > 0;
      const { client, secret } = await app.services.clients.register({
        metadata: {
          client_name: values.name,
          application_type: 'web',
          redirect_uris: redirectUris,
          grant_types: interactive ? ['authorization_code', 'refresh_token'] : ['client_credentials'],
          response_types: interactive ? ['code'] : [],
          token_endpoint_auth_method: values.public ? 'none' : 'client_secret_basic',
        },
        allowedResources,
        firstParty: values['first-party'] ?? false,
      });
      print({ client_id: client.id, ...client.metadata, allowedResources, client_secret: secret });
    } finally {
      await app.close();
    }
    return;
  }

  if (command === 'resource' && sub === 'create') {
    const { values } = parseArgs({
      args,
      options: {
        identifier: { type: 'string' },
        name: { type: 'string' },
        scope: { type: 'string', multiple: true },
        ttl: { type: 'string' },
      },
    });
    if (!values.identifier || !values.name) fail('resource create needs --identifier and --name');
    const ttl = values.ttl === undefined ? 300 : Number(values.ttl);
    if (!Number.isInteger(ttl) || ttl < 60 || ttl > 86_400) fail('--ttl must be whole seconds from 60 to 86400');
    const app = await createApp(config, issuer, log);
    try {
      print(
        await app.services.resources.create({
          identifier: values.identifier,
          name: values.name,
          scopes: values.scope ?? [],
          accessTokenTtl: ttl,
        }),
      );
    } finally {
      await app.close();
    }
    return;
  }

  fail(`unknown command: ${argv.join(' ')}\n\n${USAGE}`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
});
