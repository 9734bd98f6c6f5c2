// first: refuses a Node.js too old to run us, before anything native is loaded
import '../node-version.ts';
import { Readable } from 'node:stream';
import { ConfigError, loadConfig } from '../config/index.ts';
import { openDatabase } from '../db/database.ts';
import { migrate, readMigrations } from '../db/migrator.ts';
import { createLogger } from '../logger.ts';
import type { AdminBackend, Json, Noun } from './backend.ts';
import { openDirect } from './direct.ts';
import { CliError, usageError } from './errors.ts';
import { bodyOf, filtersOf, type Parsed, parse } from './flags.ts';
import { COLUMNS, listing, record } from './output.ts';
import { openRemote } from './remote.ts';

const USAGE = `usage: npm run idp -- <command> [options]

commands:
  migrate                          apply pending migrations; prints those applied now and those already applied
  keys rotate | keys list          make new signing keys current (the old ones verify until they expire) | list them
  <noun> list [filters] [--limit N] [--after ID]
  <noun> show <id>
  <noun> create [fields]           a client's secret is printed this once
  <noun> update <id> [fields]      changes only the fields given
  <noun> delete <id> --yes
  user set-password <id> --password-stdin
  user unlock <id>                 lift a sign-in lockout
  client rotate-secret <id>        one new secret replaces all the client's secrets; printed this once
  client secrets list <id>         the client's secrets (never their values)
  client secrets add <id> --name NAME [--expires-at RFC3339]
                                   a new secret beside the others; printed this once
  client secrets remove <id> <secretId> --yes

nouns, their fields (create, update) and list filters:
  client    --name NAME  --redirect-uri URI...  --post-logout-redirect-uri URI...  --grant-type G...
            --auth-method M  --public  --scope "a b"  --resource IDENTIFIER=scope,scope...  --role NAME...
            --[no-]first-party  --[no-]require-mfa  --application-type web|native  --client-id ID (create)
            --exchange-from IDENTIFIER... [--[no-]impersonation] (token exchange: tokenExchange)
            filter: --name PREFIX
  resource  --identifier URI (create)  --name NAME  --scope SCOPE...  --ttl SECONDS  --[no-]roles-claim
            filter: --identifier PREFIX
  role      --name NAME  --description TEXT  --permission IDENTIFIER=scope...
            filter: --name NAME
  user      --username NAME  --email EMAIL  --name NAME  --given-name G  --family-name F  --status active|disabled
            --[no-]email-verified  --role NAME...  --password-stdin (create: the first line of standard input)
            filter: --status S  --username PREFIX  --email EMAIL

options:
  --json                           print JSON (the admin API's bodies) for scripts
  --url ISSUER                     work through that server's admin API (or IDP_URL), with a token from
                                   IDP_CLIENT_ID/IDP_CLIENT_SECRET (default ADMIN_CLIENT_ID/ADMIN_CLIENT_SECRET)
  --token-scope SCOPES             the admin token's scope (default admin)

Without --url, commands work on the database named by the server's own variables (DATABASE_URL, DATA_DIR,
SECRETS_KEY, ...), as the operator: the admin delegation rules do not apply, validation does. The embedded
database belongs to one process: stop the server first, or use --url. Passwords are read from standard
input, never from the command line. Exit codes: 2 bad input, 1 failure.`;

const NOUNS: readonly string[] = ['client', 'resource', 'role', 'user'];
const isNoun = (word: string | undefined): word is Noun => word !== undefined && NOUNS.includes(word);

async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

/**
 * Where the CLI reads its variables and standard input and writes its output: the process's own,
 * or, for `runCli`, a caller's (the tests run commands in their own process, without a new Node
 * for each).
 */
const io: {
  env: Record<string, string | undefined>;
  /** undefined: the process's own (not touched until a command reads it) */
  stdin: NodeJS.ReadableStream | undefined;
  write: (text: string) => void;
} = { env: process.env, stdin: undefined, write: (text) => void process.stdout.write(text) };

const out = (text: string): void => {
  io.write(`${text}\n`);
};
const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));

function loadServerConfig() {
  try {
    return loadConfig(io.env);
  } catch (err) {
    if (err instanceof ConfigError) throw usageError(`configuration error: ${err.message}`);
    throw err;
  }
}

/** The CLI's own variables (IDP_*): the server never reads them. */
async function openBackend(values: Parsed['values']): Promise<AdminBackend> {
  const env = io.env;
  const url = typeof values.url === 'string' ? values.url : env.IDP_URL;
  if (url) {
    if (!URL.canParse(url)) throw usageError(`--url: not a URL (${url})`);
    const clientId = env.IDP_CLIENT_ID ?? env.ADMIN_CLIENT_ID;
    const clientSecret = env.IDP_CLIENT_SECRET ?? env.ADMIN_CLIENT_SECRET;
    if (!clientId || !clientSecret) {
      throw usageError('--url needs client credentials: set IDP_CLIENT_ID and IDP_CLIENT_SECRET (or ADMIN_CLIENT_*)');
    }
    const scope = typeof values['token-scope'] === 'string' ? values['token-scope'] : 'admin';
    return openRemote({ issuer: url, clientId, clientSecret, scope });
  }
  const config = loadServerConfig();
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  return openDirect(config, config.issuer ?? `http://localhost:${config.port}`, log);
}

async function withBackend(values: Parsed['values'], work: (backend: AdminBackend) => Promise<void>) {
  const backend = await openBackend(values);
  try {
    await work(backend);
  } finally {
    await backend.close();
  }
}

function idOf(parsed: Parsed, verb: string): string {
  const [id, ...rest] = parsed.positionals;
  if (!id) throw usageError(`${verb} needs an id`);
  if (rest.length > 0) throw usageError(`unexpected arguments: ${rest.join(' ')}`);
  return id;
}

async function runMigrate(): Promise<void> {
  const config = loadServerConfig();
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  // the database alone: opening the whole core would migrate first and leave nothing to report
  const db = await openDatabase(config, log);
  try {
    const applied = await migrate(db, log);
    const alreadyApplied = readMigrations()
      .map((m) => m.name)
      .filter((name) => !applied.includes(name));
    printJson({ applied, alreadyApplied });
  } finally {
    await db.close();
  }
}

async function runKeys(verb: string | undefined, args: string[]): Promise<void> {
  const parsed = parse(args, undefined);
  if ((verb !== 'rotate' && verb !== 'list') || parsed.positionals.length > 0) {
    throw usageError(`unknown command: keys ${[verb, ...args].join(' ')}`);
  }
  const json = parsed.values.json === true;
  await withBackend(parsed.values, async (backend) => {
    if (verb === 'rotate') {
      const result = await backend.rotateKeys();
      json ? printJson(result) : out(`rotated: ${result.rotated.join(', ')}`);
    } else {
      const page = await backend.listKeys();
      json ? printJson(page) : out(listing(COLUMNS.keys, page));
    }
  });
}

async function runNoun(noun: Noun, verb: string | undefined, args: string[]): Promise<void> {
  const parsed = parse(args, noun);
  const { values } = parsed;
  const json = values.json === true;
  const show = (value: Json): void => (json ? printJson(value) : out(record(value)));

  switch (verb) {
    case 'list': {
      if (parsed.positionals.length > 0) throw usageError(`unexpected arguments: ${parsed.positionals.join(' ')}`);
      const limitFlag = typeof values.limit === 'string' ? values.limit : '50';
      if (!/^\d{1,3}$/.test(limitFlag) || Number(limitFlag) < 1 || Number(limitFlag) > 200) {
        throw usageError('--limit takes a number from 1 to 200');
      }
      const query = {
        limit: Number(limitFlag),
        after: typeof values.after === 'string' ? values.after : undefined,
        filters: filtersOf(noun, values),
      };
      return withBackend(values, async (b) => {
        const page = await b.list(noun, query);
        json ? printJson(page) : out(listing(COLUMNS[noun], page));
      });
    }
    case 'show': {
      const id = idOf(parsed, 'show');
      return withBackend(values, async (b) => show(await b.show(noun, id)));
    }
    case 'create':
    case 'update': {
      const id = verb === 'update' ? idOf(parsed, 'update') : undefined;
      if (verb === 'create' && parsed.positionals.length > 0) {
        throw usageError(`unexpected arguments: ${parsed.positionals.join(' ')}`);
      }
      const body = bodyOf(noun, values);
      if (values['password-stdin'] === true) {
        if (noun !== 'user' || verb !== 'create') throw usageError('--password-stdin: use user set-password');
        body.password = await firstLine(io.stdin ?? process.stdin);
      }
      return withBackend(values, async (b) =>
        show(id === undefined ? await b.create(noun, body) : await b.update(noun, id, body)),
      );
    }
    case 'delete': {
      const id = idOf(parsed, 'delete');
      // a deletion cannot be undone: the operator says so in the command itself
      if (values.yes !== true) throw usageError(`delete removes ${noun} ${id} for good: add --yes`);
      return withBackend(values, async (b) => {
        await b.delete(noun, id);
        json ? printJson({ deleted: id }) : out(`deleted ${noun} ${id}`);
      });
    }
    case 'set-password': {
      if (noun !== 'user') break;
      const id = idOf(parsed, 'set-password');
      if (values['password-stdin'] !== true) {
        throw usageError('set-password reads the password from standard input: add --password-stdin');
      }
      const password = await firstLine(io.stdin ?? process.stdin);
      if (!password) throw usageError('no password on standard input');
      return withBackend(values, async (b) => {
        await b.update('user', id, { password });
        json ? printJson({ id, password_set: true }) : out(`password set for user ${id}`);
      });
    }
    case 'unlock': {
      if (noun !== 'user') break;
      const id = idOf(parsed, 'unlock');
      return withBackend(values, async (b) => {
        await b.unlock(id);
        json ? printJson({ id, unlocked: true }) : out(`unlocked user ${id}`);
      });
    }
    case 'secrets': {
      if (noun !== 'client') break;
      return runSecrets(args);
    }
    case 'rotate-secret': {
      if (noun !== 'client') break;
      const id = idOf(parsed, 'rotate-secret');
      return withBackend(values, async (b) => show(await b.rotateSecret(id)));
    }
  }
  throw usageError(`unknown command: ${[noun, verb, ...args].join(' ')}\n\n${USAGE}`);
}

/** `client secrets list|add|remove`: several live secrets, for rotation without an outage. */
async function runSecrets(args: string[]): Promise<void> {
  const [verb, ...rest] = args;
  const parsed = parse(rest, undefined, { name: { type: 'string' }, 'expires-at': { type: 'string' } });
  const { values, positionals } = parsed;
  const json = values.json === true;
  const [clientId, secretId, ...extra] = positionals;
  if (!clientId) throw usageError(`client secrets ${verb ?? ''} needs a client id`);
  if (verb === 'list' && secretId === undefined) {
    return withBackend(values, async (b) => {
      const page = await b.listSecrets(clientId);
      json ? printJson(page) : out(listing(COLUMNS.secrets, page));
    });
  }
  if (verb === 'add' && secretId === undefined) {
    const body: Json = {};
    if (typeof values.name === 'string') body.name = values.name;
    if (typeof values['expires-at'] === 'string') body.expiresAt = values['expires-at'];
    return withBackend(values, async (b) => {
      const added = await b.addSecret(clientId, body);
      json ? printJson(added) : out(record(added));
    });
  }
  if (verb === 'remove' && secretId !== undefined && extra.length === 0) {
    if (values.yes !== true) throw usageError(`remove stops secret ${secretId} at once: add --yes`);
    return withBackend(values, async (b) => {
      await b.removeSecret(clientId, secretId);
      json ? printJson({ removed: secretId }) : out(`removed secret ${secretId} of client ${clientId}`);
    });
  }
  throw usageError(`unknown command: client secrets ${args.join(' ')}\n\n${USAGE}`);
}

async function main(argv: string[]): Promise<void> {
  const [command, verb, ...args] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') return void out(USAGE);
  if (command === 'migrate') return runMigrate();
  if (command === 'keys') return runKeys(verb, args);
  if (isNoun(command)) return runNoun(command, verb, args);
  throw usageError(`unknown command: ${argv.join(' ')}\n\n${USAGE}`);
}

/** The exit code and message for an error (usage errors 2, failures 1). */
function failure(err: unknown): { code: number; message: string } {
  if (err instanceof CliError) return { code: err.exitCode, message: err.message };
  return { code: 1, message: `error: ${err instanceof Error ? err.message : String(err)}` };
}

/**
 * Runs one command with the given variables and standard input, as `npm run idp -- <argv>` would,
 * and returns what it printed. One command at a time (the CLI's streams are module state).
 */
export async function runCli(
  argv: string[],
  options: { env: Record<string, string | undefined>; stdin?: string },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const saved = { ...io };
  let stdout = '';
  io.env = options.env;
  io.stdin = Readable.from([options.stdin ?? '']);
  io.write = (text) => {
    stdout += text;
  };
  try {
    await main(argv);
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const { code, message } = failure(err);
    return { code, stdout, stderr: `${message}\n` };
  } finally {
    Object.assign(io, saved);
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    const { code, message } = failure(err);
    process.stderr.write(`${message}\n`);
    process.exit(code);
  });
}
