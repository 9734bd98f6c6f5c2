import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

const PASSWORD = 'pw-that-must-not-leak-9f3a';
const dirs: string[] = [];
const servers: Server[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  for (const server of servers) server.close();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'idp-startup-'));
  dirs.push(dir);
  return dir;
}

async function listening(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A PostgreSQL server as far as a client can tell: it answers every start-up with this error. */
function refusingPostgres(code: string, message: string): Server {
  const field = (type: string, text: string) => Buffer.concat([Buffer.from(type), Buffer.from(`${text}\0`)]);
  const fields = Buffer.concat([
    field('S', 'FATAL'),
    field('V', 'FATAL'),
    field('C', code),
    field('M', message),
    Buffer.from([0]),
  ]);
  const length = Buffer.alloc(4);
  length.writeInt32BE(fields.length + 4);
  return createServer((socket) => {
    socket.once('data', () => socket.end(Buffer.concat([Buffer.from('E'), length, fields])));
  });
}

/** Runs `npm start`'s entry point with only these variables (no DATABASE_URL unless given). */
async function start(env: Record<string, string>, options: { uid?: number } = {}) {
  const child = spawn(
    process.execPath,
    ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', 'src/main.ts'],
    {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        SECRETS_KEY: 'x'.repeat(40),
        PORT: '0',
        DATA_DIR: join(tempDir(), 'data'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = await once(child, 'exit');
  return { code: code as number, output };
}

/** Exit 1, one fatal log line that matches `expected`, no stack, no password. */
function assertOneLine(result: { code: number; output: string }, expected: RegExp) {
  assert.equal(result.code, 1, result.output);
  assert.ok(!result.output.includes(PASSWORD), `the password leaked: ${result.output}`);
  assert.ok(!/^\s+at /m.test(result.output), `a stack trace: ${result.output}`);
  const fatal = result.output
    .split('\n')
    .filter((line) => line.includes('"level":60'))
    .map((line) => JSON.parse(line) as { msg: string; err?: unknown });
  assert.equal(fatal.length, 1, result.output);
  assert.equal(fatal[0]?.err, undefined);
  assert.ok(!fatal[0]?.msg.includes('\n'));
  assert.match(fatal[0]?.msg ?? '', expected);
}

const postgres = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

describe('start-up failures: one line naming the fix, exit 1, no stack, no password', () => {
  test('PostgreSQL unreachable (connection refused)', async () => {
    const port = await freePort();
    const result = await start({ DATABASE_URL: `postgres://idp:${PASSWORD}@127.0.0.1:${port}/idp` });
    assertOneLine(
      result,
      new RegExp(
        `^start-up failed: cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): is PostgreSQL running\\? check DATABASE_URL$`,
      ),
    );
  });

  test('PostgreSQL takes the connection and never answers (timeout)', async () => {
    const port = await listening(createServer(() => {}));
    const result = await start({ DATABASE_URL: `postgres://idp:${PASSWORD}@127.0.0.1:${port}/idp` });
    assertOneLine(
      result,
      /cannot reach PostgreSQL at 127\.0\.0\.1:\d+ \(timeout\): is PostgreSQL running\? check DATABASE_URL/,
    );
  });

  test('a PostgreSQL host that does not resolve', async () => {
    const result = await start({ DATABASE_URL: `postgres://idp:${PASSWORD}@no-such-host.invalid:5432/idp` });
    assertOneLine(result, /cannot resolve the PostgreSQL host in DATABASE_URL \(no-such-host\.invalid:5432\)/);
  });

  test('the database does not exist', { skip: !postgres }, async () => {
    const url = new URL(postgres as string);
    url.password = PASSWORD;
    url.pathname = '/idp_no_such_database';
    const result = await start({ DATABASE_URL: url.href });
    assertOneLine(
      result,
      /database "idp_no_such_database" does not exist .*: create it with createdb idp_no_such_database/,
    );
  });

  test('password authentication failed (28P01)', async () => {
    const port = await listening(refusingPostgres('28P01', 'password authentication failed for user "idp"'));
    const result = await start({ DATABASE_URL: `postgres://idp:${PASSWORD}@127.0.0.1:${port}/idp` });
    assertOneLine(
      result,
      /PostgreSQL at 127\.0\.0\.1:\d+ refused the password for user "idp" \(28P01\): check the user and password in DATABASE_URL/,
    );
  });

  test('no pg_hba.conf entry (28000)', async () => {
    const port = await listening(refusingPostgres('28000', 'no pg_hba.conf entry for host "10.0.0.9", user "idp"'));
    const result = await start({ DATABASE_URL: `postgres://idp:${PASSWORD}@127.0.0.1:${port}/idp` });
    assertOneLine(
      result,
      /refused user "idp" \(28000: no pg_hba\.conf entry .*\): check the user in DATABASE_URL and pg_hba\.conf/,
    );
  });

  test('the port is in use', async () => {
    const port = await listening(createServer());
    const result = await start({ PORT: String(port), HOST: '127.0.0.1' });
    assertOneLine(result, new RegExp(`another process listens on 127\\.0\\.0\\.1:${port}; stop it or set PORT`));
  });

  const canDropPrivileges =
    process.getuid?.() === 0 &&
    Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', { encoding: 'utf8', flag: 'r' }).trim()) > 80;
  test('permission denied on a privileged port', {
    skip: !canDropPrivileges && 'needs root to run as nobody',
  }, async () => {
    const result = await start(
      { PORT: '80', HOST: '127.0.0.1', DATA_DIR: '/tmp/idp-startup-nobody-unused' },
      { uid: 65534 },
    );
    assertOneLine(result, /permission denied to listen on 127\.0\.0\.1:80: .*set PORT to 1024 or above/);
  });

  test('DATA_DIR is locked by a running process', async () => {
    const dataDir = join(tempDir(), 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    // this test process is alive: the lock is not stale
    writeFileSync(join(dataDir, 'pgdata.lock'), String(process.pid));
    const result = await start({ DATA_DIR: dataDir });
    assertOneLine(
      result,
      /the embedded database in DATA_DIR .* is in use by process \d+ .*stop that process, or set DATA_DIR/,
    );
  });

  test('DATA_DIR cannot be created', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, '');
    const result = await start({ DATA_DIR: join(file, 'data') });
    assertOneLine(result, /DATA_DIR .*a-file\/data is not writable \(ENOTDIR .*\): .*or set DATA_DIR/);
  });

  test('a TLS file that cannot be read', async () => {
    const dir = tempDir();
    const result = await start({
      TLS_CERT_FILE: join(dir, 'missing-cert.pem'),
      TLS_KEY_FILE: join(dir, 'missing-key.pem'),
    });
    assertOneLine(result, /cannot read TLS_CERT_FILE .*missing-cert\.pem \(ENOENT\): check the path/);
  });

  test('TLS files that are not PEM', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'junk.pem'), 'not a certificate');
    const result = await start({ TLS_CERT_FILE: join(dir, 'junk.pem'), TLS_KEY_FILE: join(dir, 'junk.pem') });
    assertOneLine(
      result,
      /TLS_CERT_FILE and TLS_KEY_FILE cannot be used .*: they must be a PEM certificate and its private key/,
    );
  });
});
