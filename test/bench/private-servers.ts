import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, killGroup, PG_BIN, waitFor } from '../../scripts/failover/cluster.ts';

/** A database or cache server of the bench's own, on a free port, gone with `stop`. */
export interface PrivateServer {
  readonly url: string;
  stop(): void;
}

/** Whether this machine can run private servers (PostgreSQL binaries and redis-server installed). */
export function privateServersAvailable(): boolean {
  const redis = (() => {
    try {
      execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  return existsSync(join(PG_BIN, 'postgres')) && redis;
}

function asPostgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString()),
  };
}

/**
 * A PostgreSQL of the bench's own, with the settings of a default installation (fsync and
 * full_page_writes on) and pg_stat_statements loaded: what it counts (statements, WAL) is the
 * product's alone, however busy the machine's shared server is, and is exact at once
 * (pg_stat_database reaches its view up to seconds late; pg_stat_statements does not).
 */
export async function startPrivatePostgres(): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), 'idp-bench-pg-'));
  const data = join(dir, 'data');
  const owner = asPostgresUser();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const initdb = [join(PG_BIN, 'initdb'), '-A', 'trust', '-U', 'postgres', '-D', data];
  if (owner) execFileSync('runuser', ['-u', 'postgres', '--', ...initdb], { stdio: 'ignore' });
  else execFileSync(initdb[0] as string, initdb.slice(1), { stdio: 'ignore' });
  const port = await freePort();
  const child = spawn(
    join(PG_BIN, 'postgres'),
    [
      ...['-D', data, '-p', String(port), '-k', dir],
      ...['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
      ...['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all'],
    ],
    { detached: true, stdio: 'ignore', ...(owner ?? {}) },
  );
  const stop = () => {
    if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  try {
    await waitFor('the private PostgreSQL', 30_000, async () => {
      const c = new pg.Client({ connectionString: url });
      c.on('error', () => {});
      await c.connect();
      await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      await c.end();
      return true;
    });
  } catch (error) {
    stop();
    throw error;
  }
  return { url, stop };
}

/** A Redis of the bench's own, without persistence: its command counts are the product's alone. */
export async function startPrivateRedis(): Promise<PrivateServer> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { detached: true, stdio: 'ignore' },
  );
  const stop = () => {
    if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
  };
  try {
    await waitFor('the private Redis', 10_000, async () => {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore' });
      return true;
    });
  } catch (error) {
    stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, stop };
}
