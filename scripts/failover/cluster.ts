import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from 'node:child_process';
import { chownSync, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A throw-away PostgreSQL cluster on 127.0.0.1, all in one directory: etcd, two Patroni nodes
 * (a primary and a synchronous streaming replica) and HAProxy routing to whichever node
 * Patroni's REST API calls the primary. Everything runs as the `postgres` user when started as
 * root (PostgreSQL refuses root).
 */

export const PG_BIN = process.env.FAILOVER_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const BINARIES = { etcd: '/usr/bin/etcd', patroni: '/usr/bin/patroni', haproxy: '/usr/sbin/haproxy' };

export interface Node {
  readonly name: string;
  readonly pgPort: number;
  readonly restPort: number;
  readonly dataDir: string;
  process: ChildProcess | undefined;
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** What is missing to run the scenario, in apt-get terms. */
export function missingPackages(): string[] {
  const missing: string[] = [];
  if (!existsSync(BINARIES.etcd)) missing.push('etcd-server');
  if (!existsSync(BINARIES.patroni)) missing.push('patroni');
  if (!existsSync(BINARIES.haproxy)) missing.push('haproxy');
  if (!existsSync(join(PG_BIN, 'postgres'))) missing.push(`PostgreSQL binaries in ${PG_BIN}`);
  return missing;
}

export class Cluster {
  readonly nodes: Node[] = [];
  haproxyPort = 0;
  etcdPort = 0;
  readonly #children: ChildProcess[] = [];
  readonly #owner: { uid: number; gid: number } | undefined;
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      this.#owner = { uid, gid };
      chownSync(dir, uid, gid);
    }
  }

  #mkdir(path: string): string {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    if (this.#owner) chownSync(path, this.#owner.uid, this.#owner.gid);
    return path;
  }

  #write(path: string, text: string): void {
    writeFileSync(path, text, { mode: 0o600 });
    if (this.#owner) chownSync(path, this.#owner.uid, this.#owner.gid);
  }

  /** each child leads its own process group, so that stopping it takes whatever it started */
  #spawn(name: string, command: string, args: string[], extra: SpawnOptions = {}): ChildProcess {
    const log = createWriteStream(join(this.dir, `${name}.log`));
    const child = spawn(command, args, {
      cwd: this.dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.#owner ? this.#owner : {}),
      ...extra,
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.#children.push(child);
    return child;
  }

  logTail(name: string, lines = 30): string {
    try {
      return readFileSync(join(this.dir, `${name}.log`), 'utf8')
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '';
    }
  }

  async start(scope: string): Promise<void> {
    this.etcdPort = await freePort();
    const peerPort = await freePort();
    this.#spawn('etcd', BINARIES.etcd, [
      '--name=etcd0',
      `--data-dir=${this.#mkdir(join(this.dir, 'etcd'))}`,
      `--listen-client-urls=http://127.0.0.1:${this.etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${this.etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=etcd0=http://127.0.0.1:${peerPort}`,
      '--initial-cluster-state=new',
      '--log-level=warn',
    ]);
    await waitFor('etcd', 20_000, async () => (await fetch(`http://127.0.0.1:${this.etcdPort}/health`)).ok);

    for (const name of ['node1', 'node2']) {
      const node: Node = {
        name,
        pgPort: await freePort(),
        restPort: await freePort(),
        dataDir: join(this.dir, name, 'data'),
        process: undefined,
      };
      this.#mkdir(join(this.dir, name));
      this.#write(join(this.dir, name, 'patroni.yml'), patroniConfig(scope, node, this.etcdPort, join(this.dir, name)));
      this.nodes.push(node);
    }
    // the first node bootstraps the cluster alone, so that it is the first primary
    const [first, second] = this.nodes as [Node, Node];
    this.startNode(first);
    await waitFor('the first node to become primary', 60_000, () => this.isPrimary(first));
    this.startNode(second);
    await waitFor('the replica to stream synchronously', 60_000, async () => {
      const res = await fetch(`http://127.0.0.1:${first.restPort}/cluster`);
      const { members } = (await res.json()) as { members: { name: string; role: string; state: string }[] };
      return members.some(
        (m) => m.name === second.name && m.role === 'sync_standby' && ['running', 'streaming'].includes(m.state),
      );
    });

    this.haproxyPort = await freePort();
    this.#write(join(this.dir, 'haproxy.cfg'), haproxyConfig(this.haproxyPort, this.nodes));
    // -db: stay in the foreground (it is our child); -W: master-worker, stopped with its group
    this.#spawn('haproxy', BINARIES.haproxy, ['-db', '-f', join(this.dir, 'haproxy.cfg')]);
    // HAProxy takes a server for up until its checks say otherwise: wait until every new
    // connection lands on the primary
    await waitFor('HAProxy to route to the primary only', 20_000, async () => {
      for (let i = 0; i < 6; i++) if (await this.#inRecovery()) return false;
      return true;
    });
  }

  async #inRecovery(): Promise<boolean> {
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${this.haproxyPort}/postgres` });
    client.on('error', () => {});
    await client.connect();
    try {
      const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      return rows[0]?.r !== false;
    } finally {
      await client.end();
    }
  }

  startNode(node: Node): void {
    node.process = this.#spawn(node.name, BINARIES.patroni, [join(this.dir, node.name, 'patroni.yml')]);
  }

  async isPrimary(node: Node): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${node.restPort}/primary`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      return res.status === 200;
    } catch {
      return false;
    }
  }

  /** Like a machine that dies: Patroni and the postmaster killed at once, nothing released. */
  crash(node: Node): void {
    const postmaster = this.postmasterPid(node);
    if (node.process?.pid !== undefined) killGroup(node.process.pid, 'SIGKILL');
    if (postmaster !== undefined) {
      try {
        process.kill(postmaster, 'SIGKILL');
      } catch {
        // already gone with Patroni's process group
      }
    }
  }

  /** An orderly stop: Patroni shuts PostgreSQL down and hands the leader key over. */
  stop(node: Node): void {
    if (node.process?.pid !== undefined) process.kill(node.process.pid, 'SIGTERM');
  }

  postmasterPid(node: Node): number | undefined {
    try {
      const pid = Number(readFileSync(join(node.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Kills everything this cluster started, the PostgreSQL servers included; safe to call twice. */
  destroy(): void {
    const postmasters = this.nodes.map((n) => this.postmasterPid(n));
    for (const child of this.#children) {
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    }
    for (const pid of postmasters) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * synchronous_mode: a commit is acknowledged only once the synchronous standby has it, and
 * Patroni promotes only that standby; with asynchronous replication a commit acknowledged just
 * before the primary died could be missing on the promoted replica. Not strict: once the
 * primary is gone the new one accepts writes alone rather than stop.
 */
function patroniConfig(scope: string, node: Node, etcdPort: number, dir: string): string {
  return `scope: ${scope}
namespace: /idp-failover/
name: ${node.name}
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:${node.restPort}
  connect_address: 127.0.0.1:${node.restPort}
etcd3:
  hosts: 127.0.0.1:${etcdPort}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 3
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        wal_log_hints: 'on'
        max_wal_senders: 5
        max_replication_slots: 5
        synchronous_commit: 'on'
  initdb:
    - encoding: UTF8
    - auth: trust
postgresql:
  listen: 127.0.0.1:${node.pgPort}
  connect_address: 127.0.0.1:${node.pgPort}
  data_dir: ${node.dataDir}
  bin_dir: ${PG_BIN}
  pgpass: ${join(dir, 'pgpass')}
  authentication:
    superuser:
      username: postgres
      password: postgres
    replication:
      username: replicator
      password: replicator
  parameters:
    unix_socket_directories: '${dir}'
    max_connections: 100
    shared_buffers: 32MB
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
`;
}

/**
 * TCP to the node whose Patroni answers 200 on /primary. Checked twice a second; a node marked
 * down has its connections cut, so that no client keeps talking to a demoted or dead primary.
 */
function haproxyConfig(port: number, nodes: Node[]): string {
  return `global
  maxconn 1000
defaults
  mode tcp
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  timeout check 1s
listen postgres
  bind 127.0.0.1:${port}
  option httpchk OPTIONS /primary
  http-check expect status 200
  default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
${nodes.map((n) => `  server ${n.name} 127.0.0.1:${n.pgPort} maxconn 200 check port ${n.restPort}`).join('\n')}
`;
}
