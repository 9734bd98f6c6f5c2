import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './pgbouncer.ts';

/** Debian's PostgreSQL 15 server binaries (not on a user's PATH). */
export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';
export const havePostgresBinaries = existsSync(join(POSTGRES_BIN, 'pg_ctl'));

/** A PostgreSQL server of the test's own, to stop and start again: the shared one is never stopped. */
export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/<database>` */
  url(database?: string): string;
  /** stops it as a crash would (`pg_ctl stop -m immediate`): connections cut, no checkpoint */
  crash(): void;
  /** starts it again on the same port and data, and waits until it answers */
  start(): Promise<void>;
  /** stops it and removes its data */
  destroy(): void;
}

/** initdb and pg_ctl refuse to run as root: as root, they run as the postgres user. */
function run(binary: string, args: string[]): void {
  const path = join(POSTGRES_BIN, binary);
  if (process.getuid?.() === 0) execFileSync('runuser', ['-u', 'postgres', '--', path, ...args], { stdio: 'ignore' });
  else execFileSync(path, args, { stdio: 'ignore' });
}

/** A fresh cluster on a free port of 127.0.0.1 with trust authentication, running. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'idp-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chmodSync(dir, 0o700);
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const port = await freePort();
  run('initdb', ['-A', 'trust', '-U', 'postgres', '-D', data]);
  // fsync off: a test's data need not survive the machine, only the server's crash
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const start = async () => {
    run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '30', 'start']);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new pg.Client({ connectionString: url() });
      probe.on('error', () => {});
      try {
        await probe.connect();
        await probe.end();
        return;
      } catch (err) {
        await probe.end().catch(() => {});
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const crash = () => run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
  await start();
  return {
    url,
    crash,
    start,
    destroy() {
      try {
        crash();
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
