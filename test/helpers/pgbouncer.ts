import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Debian's pgbouncer package puts its binary here (not on a user's PATH). */
export const PGBOUNCER_BINARY = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p));

export interface PrivatePgBouncer {
  /** `serverUrl` with its host and port replaced by the pooler's */
  readonly url: (serverUrl: string) => string;
  /** transactions PgBouncer has passed to the server for `database` (its admin console's SHOW STATS) */
  transactions(database: string): Promise<number>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * A private PgBouncer in transaction pooling mode in front of the PostgreSQL server of
 * `serverUrl` (trust authentication, as the shared test server has), on a free port. Its pool
 * is kept small on purpose, so that consecutive transactions of one client land on different
 * server connections and anything that relies on a session shows.
 */
export async function startPgBouncer(
  serverUrl: string,
  options: { poolSize?: number } = {},
): Promise<PrivatePgBouncer> {
  if (PGBOUNCER_BINARY === undefined) {
    throw new Error('pgbouncer is not installed (apt-get install -y pgbouncer; .ci/run installs it)');
  }
  const server = new URL(serverUrl);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'idp-pgbouncer-'));
  // PgBouncer refuses to run as root; it then switches to `user`, who must read these files
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chmodSync(dir, 0o755);
  const user = decodeURIComponent(server.username || 'postgres');
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" ""\n`, { mode: 0o644 });
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || '5432'}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 3}`,
      'max_client_conn = 500',
      'server_reset_query =',
      `admin_users = ${user}`,
      ...(asRoot ? ['user = postgres'] : []),
      '',
    ].join('\n'),
    { mode: 0o644 },
  );

  const child: ChildProcess = spawn(PGBOUNCER_BINARY, [join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const url = (serverUrl: string) => {
    const u = new URL(serverUrl);
    u.hostname = '127.0.0.1';
    u.port = String(port);
    return u.toString();
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // PgBouncer: SIGINT is a safe shutdown
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // ready when it answers a query through itself
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`pgbouncer exited (${child.exitCode}): ${stderr}`);
    }
    const probe = new pg.Client({ connectionString: url(serverUrl) });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.query('SELECT 1');
      await probe.end();
      break;
    } catch (err) {
      await probe.end().catch(() => {});
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`pgbouncer did not answer on port ${port}: ${(err as Error).message}; ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const transactions = async (database: string) => {
    const admin = new URL(url(serverUrl));
    admin.pathname = '/pgbouncer';
    admin.search = '';
    const console = new pg.Client({ connectionString: admin.toString() });
    await console.connect();
    try {
      // no parameters: pg sends it as a simple query, the only protocol the admin console speaks
      const { rows } = await console.query<{ database: string; total_xact_count: string }>('SHOW STATS');
      return Number(rows.find((r) => r.database === database)?.total_xact_count ?? 0);
    } finally {
      await console.end();
    }
  };
  return { url, transactions, stop };
}
