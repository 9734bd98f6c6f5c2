import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CliRun, cliWith } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, startTestServer, type TestServer } from '../helpers/server.ts';

const SECRETS_KEY = 'cli-test-secrets-key-0123456789abcdef0123';

type Run = CliRun;
const cli = cliWith;

type Idp = ReturnType<typeof cli>;

const ok = (run: Run) => {
  assert.equal(run.code, 0, run.stderr);
  return run;
};
const json = (run: Run) => JSON.parse(ok(run).stdout);

/** Every verb of every noun, the same in both modes. */
async function everyVerb(idp: Idp) {
  const api = json(
    await idp([
      'resource',
      'create',
      '--identifier',
      'https://ledger.example',
      '--name',
      'Ledger',
      '--scope',
      'ledger:read',
      '--scope',
      'ledger:write',
      '--json',
    ]),
  );
  assert.match(api.id, /./);
  assert.equal(json(await idp(['resource', 'show', api.id, '--json'])).name, 'Ledger');
  assert.equal(json(await idp(['resource', 'update', api.id, '--ttl', '600', '--json'])).accessTokenTtl, 600);
  const apis = json(await idp(['resource', 'list', '--identifier', 'https://ledger', '--json']));
  assert.deepEqual(
    apis.data.map((r: { id: string }) => r.id),
    [api.id],
  );
  assert.match(ok(await idp(['resource', 'list'])).stdout, /^ID\s+IDENTIFIER/);

  const role = json(
    await idp([
      'role',
      'create',
      '--name',
      'bookkeeper',
      '--permission',
      'https://ledger.example=ledger:read',
      '--json',
    ]),
  );
  assert.equal(
    json(await idp(['role', 'update', role.id, '--description', 'reads the ledger', '--json'])).description,
    'reads the ledger',
  );
  assert.equal(json(await idp(['role', 'show', role.id, '--json'])).permissions.length, 1);
  assert.equal(json(await idp(['role', 'list', '--name', 'bookkeeper', '--json'])).data.length, 1);

  const user = json(
    await idp(
      [
        'user',
        'create',
        '--username',
        'ann',
        '--email',
        'ann@example.com',
        '--role',
        'bookkeeper',
        '--password-stdin',
        '--json',
      ],
      'a fine long passphrase\n',
    ),
  );
  assert.equal(user.has_password, true);
  assert.deepEqual(user.roles, ['bookkeeper']);
  const updated = json(await idp(['user', 'update', user.id, '--name', 'Ann Smith', '--status', 'disabled', '--json']));
  assert.equal(updated.name, 'Ann Smith');
  assert.equal(updated.status, 'disabled');
  assert.equal(json(await idp(['user', 'list', '--status', 'disabled', '--json'])).data.length, 1);
  assert.equal(
    json(await idp(['user', 'list', '--status', 'active', '--json'])).data.filter(
      (u: { username: string }) => u.username === 'ann',
    ).length,
    0,
  );
  assert.equal(json(await idp(['user', 'show', user.id, '--json'])).username, 'ann');
  const set = ok(await idp(['user', 'set-password', user.id, '--password-stdin'], 'another long passphrase\n'));
  assert.ok(!set.stdout.includes('passphrase'));
  ok(await idp(['user', 'unlock', user.id]));

  const client = json(
    await idp([
      'client',
      'create',
      '--name',
      'ledger-sync',
      '--resource',
      'https://ledger.example=ledger:read',
      '--json',
    ]),
  );
  assert.match(client.client_secret, /^[\w-]{43}$/);
  const shown = ok(await idp(['client', 'show', client.client_id]));
  assert.ok(!shown.stdout.includes(client.client_secret), 'a secret is shown once');
  assert.match(shown.stdout, /client_name\s+ledger-sync/);
  const renamed = json(
    await idp(['client', 'update', client.client_id, '--name', 'ledger-sync-2', '--role', 'bookkeeper', '--json']),
  );
  assert.equal(renamed.client_name, 'ledger-sync-2');
  assert.deepEqual(renamed.roles, ['bookkeeper']);
  assert.equal(json(await idp(['client', 'list', '--name', 'ledger-sync', '--json'])).data.length, 1);
  const rotated = json(await idp(['client', 'rotate-secret', client.client_id, '--json']));
  assert.match(rotated.client_secret, /^[\w-]{43}$/);
  assert.notEqual(rotated.client_secret, client.client_secret);

  const keys = json(await idp(['keys', 'rotate', '--json']));
  assert.ok(keys.rotated.length > 0);
  const listed = json(await idp(['keys', 'list', '--json']));
  assert.ok(listed.data.some((k: { kid: string }) => keys.rotated.includes(k.kid)));

  // bad input: exit 2 with the admin API's words, nothing changed
  const noYes = await idp(['user', 'delete', user.id]);
  assert.equal(noYes.code, 2);
  assert.match(noYes.stderr, /--yes/);
  const badTtl = await idp(['resource', 'update', api.id, '--ttl', '5']);
  assert.equal(badTtl.code, 2, badTtl.stderr);
  assert.match(badTtl.stderr, /accessTokenTtl/);
  const badRole = await idp(['role', 'create', '--name', 'bad name']);
  assert.equal(badRole.code, 2);
  assert.match(badRole.stderr, /name: must be/);
  const weak = await idp(['user', 'set-password', user.id, '--password-stdin'], 'short\n');
  assert.equal(weak.code, 2, weak.stderr);
  assert.match(weak.stderr, /password/);
  assert.equal(weak.stderr.trim().split('\n').length, 1, 'one line');
  const missing = await idp(['role', 'show', 'no-such-role']);
  assert.equal(missing.code, 1);

  for (const [noun, id] of [
    ['client', client.client_id],
    ['user', user.id],
    ['role', role.id],
    ['resource', api.id],
  ] as const) {
    assert.equal(json(await idp([noun, 'delete', id, '--yes', '--json'])).deleted, id);
    assert.equal((await idp([noun, 'show', id])).code, 1, `${noun} deleted`);
  }
}

describe('operator CLI: every verb directly on the database', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(() => database?.drop());

  test('list, show, create, update, delete, set-password, unlock, rotate-secret, keys', async () => {
    await everyVerb(cli({ ...database.env, SECRETS_KEY, PORT: '3000' }));
  });
});

describe('operator CLI: through a running server (--url)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  const env = () => ({ IDP_CLIENT_ID: ADMIN_CLIENT_ID, IDP_CLIENT_SECRET: ADMIN_CLIENT_SECRET });

  test('every verb through the admin API', async () => {
    const idp = cli(env());
    await everyVerb((args, stdin) => idp([...args, '--url', server.issuer], stdin));
  });

  // through the admin API only: each command in the direct mode boots the whole app
  test('client secrets add, list and remove', async () => {
    const run = cli(env());
    const idp = (args: string[]) => run([...args, '--url', server.issuer]);
    const created = await server.admin<{ client_id: string }>('POST', '/clients', { client_name: 'cli secrets' });
    const id = created.body.client_id;
    const added = json(await idp(['client', 'secrets', 'add', id, '--name', 'deploy 2', '--json']));
    assert.match(added.secret, /^[\w-]{43}$/);
    const listed = ok(await idp(['client', 'secrets', 'list', id])).stdout;
    assert.match(listed, /^ID\s+NAME/);
    assert.match(listed, /deploy 2/);
    assert.ok(!listed.includes(added.secret), 'never a value in the listing');
    const noYes = await idp(['client', 'secrets', 'remove', id, added.id]);
    assert.equal(noYes.code, 2);
    ok(await idp(['client', 'secrets', 'remove', id, added.id, '--yes']));
  });

  test('a wrong client secret: one line, exit 1, the secret never printed', async () => {
    const run = await cli({ IDP_CLIENT_ID: ADMIN_CLIENT_ID, IDP_CLIENT_SECRET: 'wrong-secret-0123456789abcdef0123' })([
      'user',
      'list',
      '--url',
      server.issuer,
    ]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot get an admin token/);
    assert.ok(!run.stderr.includes('wrong-secret'));
  });

  test('a token without the scope: the admin API refusal is printed', async () => {
    const run = await cli(env())(['user', 'list', '--url', server.issuer, '--token-scope', 'clients:read']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /GET \/admin\/users/);
  });
});
