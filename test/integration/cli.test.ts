import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { readMigrations } from '../../src/db/migrator.ts';
import { cliWith } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { startTestServer } from '../helpers/server.ts';

const SECRETS_KEY = 'cli-test-secrets-key-0123456789abcdef0123';

describe('operator CLI (npm run idp)', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(() => database?.drop());

  const idp = (args: string[], stdin?: string) =>
    cliWith({ ...database.env, SECRETS_KEY, PORT: '3000' })(
      [...args, ...(args[0] === 'migrate' ? [] : ['--json'])],
      stdin ?? '',
    );

  test('migrate, then every create command, then the server sees what the CLI made', async () => {
    const migrated = await idp(['migrate']);
    assert.equal(migrated.code, 0, migrated.stderr);

    const api = await idp([
      'resource',
      'create',
      '--identifier',
      'https://ledger.example',
      '--name',
      'Ledger',
      '--scope',
      'ledger:read',
    ]);
    assert.equal(api.code, 0, api.stderr);
    assert.equal(JSON.parse(api.stdout).identifier, 'https://ledger.example');

    const role = await idp([
      'role',
      'create',
      '--name',
      'bookkeeper',
      '--permission',
      'https://ledger.example=ledger:read',
    ]);
    assert.equal(role.code, 0, role.stderr);

    const user = await idp(
      ['user', 'create', '--username', 'ann', '--role', 'bookkeeper', '--password-stdin'],
      'a fine long passphrase\n',
    );
    assert.equal(user.code, 0, user.stderr);
    const created = JSON.parse(user.stdout);
    assert.equal(created.has_password, true);
    assert.deepEqual(created.roles, ['bookkeeper']);
    assert.ok(!user.stdout.includes('passphrase'));

    const svc = await idp([
      'client',
      'create',
      '--name',
      'ledger-sync',
      '--resource',
      'https://ledger.example=ledger:read',
    ]);
    assert.equal(svc.code, 0, svc.stderr);
    const { client_id, client_secret } = JSON.parse(svc.stdout);
    assert.match(client_secret, /^[\w-]{43}$/);

    const rotated = await idp(['keys', 'rotate']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const keys = JSON.parse((await idp(['keys', 'list'])).stdout).data as { current: boolean }[];
    assert.equal(keys.length, 4);
    assert.equal(keys.filter((k) => k.current).length, 2);

    const server = await startTestServer({ database: { ...database, drop: async () => {} }, env: { SECRETS_KEY } });
    try {
      const res = await server.token(client_id, client_secret, {
        grant_type: 'client_credentials',
        resource: 'https://ledger.example',
        scope: 'ledger:read',
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.scope, 'ledger:read');
    } finally {
      await server.close();
    }
  });

  test('bad input: a clear message and a non-zero exit, nothing created', async () => {
    const cases: [string[], RegExp][] = [
      [['resource', 'create', '--identifier', 'not-a-uri', '--name', 'X'], /identifier: must be an absolute URI/],
      [['resource', 'create', '--identifier', 'https://x.example', '--name', 'X', '--ttl', '5'], /accessTokenTtl/],
      [['role', 'create', '--name', 'bad name'], /name: must be/],
      [['user', 'create', '--username', 'bob', '--role', 'nope'], /unknown role|no role named nope/],
      [['user', 'create', '--username', 'carl', '--password-stdin'], /password/],
      [['client', 'create', '--name', ' '], /client_name/],
      [['frobnicate'], /unknown command/],
    ];
    for (const [args, message] of cases) {
      const result = await idp(args, args.includes('--password-stdin') ? 'short\n' : '');
      assert.notEqual(result.code, 0, args.join(' '));
      assert.match(result.stderr, message, `${args.join(' ')}: ${result.stderr}`);
    }
  });
});

describe('npm run idp -- migrate (a real process: the entry, its streams and exit codes)', () => {
  test('regression: migrate reports what it applied in this run, and what was applied before', async () => {
    const database = await createTestDatabase({ empty: true });
    const run = (command = 'migrate') =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', 'src/cli/main.ts', command],
          { env: { ...process.env, ...database.env, SECRETS_KEY, NODE_ENV: 'test', LOG_LEVEL: 'error' } },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c));
        child.stderr.on('data', (c: Buffer) => (stderr += c));
        child.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
    try {
      const migrations = readMigrations().map((m) => m.name);
      const first = await run();
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(JSON.parse(first.stdout), { applied: migrations, alreadyApplied: [] });
      const second = await run();
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(JSON.parse(second.stdout), { applied: [], alreadyApplied: migrations });
      // a usage error: its message on standard error, exit code 2, nothing on standard output
      const wrong = await run('frobnicate');
      assert.equal(wrong.code, 2);
      assert.match(wrong.stderr, /^unknown command: frobnicate/);
      assert.equal(wrong.stdout, '');
    } finally {
      await database.drop();
    }
  });
});
