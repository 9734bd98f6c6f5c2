// first: refuses a Node.js too old to run us, before anything native is loaded
import '../node-version.ts';
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { createApp } from '../app.ts';
import { ConfigError, loadConfig } from '../config/index.ts';
import { openDatabase } from '../db/database.ts';
import { migrate, readMigrations } from '../db/migrator.ts';
import { AppError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { CACHE_CHANNEL } from '../services/cache.ts';
import { NewResource, NewRole } from '../services/schemas/admin.ts';
import { zodDetails } from '../services/schemas/details.ts';
import { createLifetime } from '../wiring/lifetime.ts';
import { createRepositories } from '../wiring/repositories.ts';
import { openKeys } from '../wiring/services.ts';
import { openStorage } from '../wiring/storage.ts';

const USAGE = `usage: npm run idp -- <command> [options]

commands:
  migrate                         apply pending database migrations; prints those applied now (applied)
                                  and those the database already had (alreadyApplied)
  keys rotate                     make new signing keys current (the old ones verify until they expire)
  keys list                       list the signing keys
  client create --name NAME [--resource IDENTIFIER=scope,scope ...] [--redirect-uri URI ...] [--public]
                                  register a client; prints it with its secret (shown once)
  resource create --identifier URI --name NAME [--scope SCOPE ...] [--ttl SECONDS]
                                  register an API
  role create --name NAME [--permission IDENTIFIER=scope ...] [--description TEXT]
                                  define a role
  user create --username NAME [--email EMAIL] [--name FULL_NAME] [--role ROLE ...] [--password-stdin]
                                  create a user; with --password-stdin the password is read from the first
                                  line of standard input (never from the command line, where others could read it)

The database and secrets come from the same environment variables as the server (DATABASE_URL, DATA_DIR, SECRETS_KEY, ...).
The embedded database belongs to one process: stop the server before running commands against it.`;

/** Validates CLI input with the admin API's own schema, so both refuse the same things. */
function checked<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const detail = zodDetails(result.error)[0];
    fail(`${detail?.field}: ${detail?.message}`);
  }
  return result.data;
}

async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

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
    // the database alone: opening the whole core would migrate first and leave nothing to report
    const db = await openDatabase(config, log);
    try {
      const applied = await migrate(db, log);
      const alreadyApplied = readMigrations()
        .map((m) => m.name)
        .filter((name) => !applied.includes(name));
      print({ applied, alreadyApplied });
    } finally {
      await db.close();
    }
    return;
  }

  if (command === 'keys' && (sub === 'rotate' || sub === 'list')) {
    const lifetime = createLifetime();
    try {
      const { db, secrets } = await openStorage(config, log, lifetime);
      const keys = await openKeys(createRepositories(db), secrets, log);
      if (sub === 'rotate') {
        const kids = await keys.rotate();
        // running instances switch to the new keys at once
        await db.notify(CACHE_CHANNEL, JSON.stringify({ topic: 'keys' }));
        print({ rotated: kids });
      } else {
        print(await keys.list());
      }
    } finally {
      await lifetime.close();
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
    const input = checked(NewResource, {
      identifier: values.identifier,
      name: values.name,
      scopes: values.scope ?? [],
      ...(values.ttl === undefined ? {} : { accessTokenTtl: Number(values.ttl) }),
    });
    const app = await createApp(config, issuer, log);
    try {
      print(await app.services.resources.create(input));
    } finally {
      await app.close();
    }
    return;
  }

  if (command === 'role' && sub === 'create') {
    const { values } = parseArgs({
      args,
      options: {
        name: { type: 'string' },
        description: { type: 'string' },
        permission: { type: 'string', multiple: true },
      },
    });
    if (!values.name) fail('role create needs --name');
    const permissions = (values.permission ?? []).map((entry) => {
      const at = entry.lastIndexOf('=');
      if (at <= 0) fail(`--permission takes IDENTIFIER=scope (got ${entry})`);
      return { resource: entry.slice(0, at), scope: entry.slice(at + 1) };
    });
    const input = checked(NewRole, { name: values.name, description: values.description, permissions });
    const app = await createApp(config, issuer, log);
    try {
      print(await app.services.roles.create(input));
    } finally {
      await app.close();
    }
    return;
  }

  if (command === 'user' && sub === 'create') {
    const { values } = parseArgs({
      args,
      options: {
        username: { type: 'string' },
        email: { type: 'string' },
        name: { type: 'string' },
        role: { type: 'string', multiple: true },
        'password-stdin': { type: 'boolean' },
      },
    });
    if (!values.username) fail('user create needs --username');
    const password = values['password-stdin'] ? await firstLine(process.stdin) : undefined;
    const app = await createApp(config, issuer, log);
    try {
      const roles = values.role ?? [];
      await app.services.roles.check(roles);
      const user = await app.services.accounts
        .register({ username: values.username, email: values.email, name: values.name, password })
        .catch((err: unknown) => {
          // a refused user (a field, a taken name) is the operator's input: exit 2, like a bad flag
          if (err instanceof AppError && err.expose) fail(`${err.details?.[0]?.field ?? 'user'}: ${err.message}`);
          throw err;
        });
      if (roles.length > 0) await app.services.roles.assign({ kind: 'user', id: user.id }, roles);
      print({ ...user, roles });
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
