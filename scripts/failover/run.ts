/**
 * PostgreSQL failover under load (npm run test:failover).
 *
 * Builds a throw-away cluster on 127.0.0.1 (etcd, a Patroni primary with a synchronous
 * streaming replica, HAProxy routing to the primary), starts the product against HAProxy,
 * drives client-credentials tokens and admin writes, crashes the primary (Patroni and the
 * postmaster killed with SIGKILL, as when a machine dies; FAILOVER_KILL=stop for an orderly
 * stop instead) and measures: time to promotion, time until the product serves again, the
 * status codes answered during the switch (503 with Retry-After for what needs the database;
 * tokens for the known client keep being issued), and whether every acknowledged write survived.
 * Everything it starts is killed when it ends, fails or is interrupted.
 *
 * Environment: FAILOVER_KILL (crash | stop), FAILOVER_MAX_RECOVERY_SECONDS (default 10),
 * FAILOVER_KEEP=1 keeps the temp directory (logs) for inspection.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Cluster, freePort, killGroup, missingPackages, type Node, waitFor } from './cluster.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEADLINE_MS = 240_000;
const WARMUP_MS = 5_000;
const STEADY_AFTER_RECOVERY_MS = 5_000;
const MAX_SWITCH_MS = 60_000;
const MAX_RECOVERY_S = Number(process.env.FAILOVER_MAX_RECOVERY_SECONDS ?? 10);
const KILL_MODE = process.env.FAILOVER_KILL === 'stop' ? 'stop' : 'crash';
const TOKEN_WORKERS = 4;
const WRITE_WORKERS = 2;
const ADMIN_ID = 'failover-admin';
const ADMIN_SECRET = 'failover-admin-secret-0123456789abcdef0123456789';
const API = 'https://failover.example';

interface Sample {
  kind: 'token' | 'write';
  start: number;
  end: number;
  status: number; // 0: no HTTP answer (connection refused, timeout)
  retryAfter: string | null;
  error?: string;
}

const started = performance.now();
const now = () => performance.now() - started;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const dir = mkdtempSync(join(tmpdir(), 'idp-failover-'));
const cluster = new Cluster(dir);
let app: ChildProcess | undefined;
let cleaned = false;

function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  if (app?.pid !== undefined) killGroup(app.pid, 'SIGKILL');
  cluster.destroy();
  if (process.env.FAILOVER_KEEP === '1') console.log(`logs kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the cluster`);
    cleanup();
    process.exit(130);
  });
}
const watchdog = setTimeout(() => {
  console.error(`FAIL: the scenario did not finish within ${DEADLINE_MS / 1000} s`);
  cleanup();
  process.exit(1);
}, DEADLINE_MS);
watchdog.unref();

async function startApp(databaseUrl: string): Promise<string> {
  const port = await freePort();
  const issuer = `http://localhost:${port}`;
  const log = createWriteStream(join(dir, 'app.log'));
  app = spawn(
    process.execPath,
    [
      '--max-semi-space-size=2',
      '--experimental-strip-types',
      '--disable-warning=ExperimentalWarning',
      join(ROOT, 'src/main.ts'),
    ],
    {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        PORT: String(port),
        ISSUER: issuer,
        DATABASE_URL: databaseUrl,
        SECRETS_KEY: 'failover-secrets-key-0123456789abcdef0123456789abcdef',
        ADMIN_CLIENT_ID: ADMIN_ID,
        ADMIN_CLIENT_SECRET: ADMIN_SECRET,
        LOG_LEVEL: 'warn',
        // the load is one client: its limits are not what this measures
        RATE_LIMIT_TOKEN: '1000000',
        RATE_LIMIT_ADMIN: '1000000',
      },
    },
  );
  app.stdout?.pipe(log);
  app.stderr?.pipe(log);
  await waitFor('the product to be ready', 60_000, async () => {
    if (app?.exitCode !== null) throw new Error(`the product exited with ${app?.exitCode}`);
    return (await fetch(`${issuer}/readyz`)).ok;
  });
  return issuer;
}

const form = (id: string, secret: string) => ({
  authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
  'content-type': 'application/x-www-form-urlencoded',
});

async function setUp(issuer: string) {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: form(ADMIN_ID, ADMIN_SECRET),
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${issuer}/admin`, scope: 'admin' }),
  });
  const adminToken = ((await res.json()) as { access_token: string }).access_token;
  const admin = async (path: string, body: unknown) => {
    const r = await fetch(`${issuer}/admin${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (r.status !== 201) throw new Error(`POST /admin${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as Record<string, string>;
  };
  await admin('/resources', { identifier: API, name: 'failover', scopes: ['read'], accessTokenTtl: 300 });
  const svc = await admin('/clients', { client_name: 'failover load', allowedResources: { [API]: ['read'] } });
  return { adminToken, clientId: svc.client_id as string, clientSecret: svc.client_secret as string };
}

async function main(): Promise<number> {
  const missing = missingPackages();
  if (missing.length > 0) {
    console.error(`FAIL: missing ${missing.join(', ')} (apt-get install -y etcd-server patroni haproxy)`);
    return 1;
  }
  console.log(`cluster in ${dir}`);
  await cluster.start(`idp-${process.pid}`);
  const setupDone = now();
  console.log(
    `cluster up (etcd, 2 Patroni nodes, synchronous replica, HAProxy :${cluster.haproxyPort}) in ${seconds(setupDone)}`,
  );

  const viaHaproxy = (db: string) => `postgres://postgres@127.0.0.1:${cluster.haproxyPort}/${db}`;
  const bootstrap = new pg.Client({ connectionString: viaHaproxy('postgres') });
  await bootstrap.connect();
  await bootstrap.query('CREATE DATABASE idp');
  await bootstrap.end();

  const issuer = await startApp(viaHaproxy('idp'));
  const { adminToken, clientId, clientSecret } = await setUp(issuer);
  console.log(`product up at ${issuer} in ${seconds(now() - setupDone)}`);

  const samples: Sample[] = [];
  const acknowledged: string[] = [];
  let running = true;
  let writeSeq = 0;

  const call = async (kind: Sample['kind'], req: () => Promise<Response>, onOk?: (body: unknown) => void) => {
    const start = now();
    try {
      const res = await req();
      const body = await res.json().catch(() => undefined);
      if (res.ok) onOk?.(body);
      samples.push({ kind, start, end: now(), status: res.status, retryAfter: res.headers.get('retry-after') });
    } catch (err) {
      samples.push({ kind, start, end: now(), status: 0, retryAfter: null, error: (err as Error).message });
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const tokenWorker = async () => {
    while (running) {
      await call('token', () =>
        fetch(`${issuer}/token`, {
          method: 'POST',
          headers: form(clientId, clientSecret),
          body: new URLSearchParams({ grant_type: 'client_credentials', resource: API }),
          signal: AbortSignal.timeout(5000),
        }),
      );
    }
  };
  const writeWorker = async () => {
    while (running) {
      const name = `failover-${process.pid}-${writeSeq++}`;
      await call(
        'write',
        () =>
          fetch(`${issuer}/admin/roles`, {
            method: 'POST',
            headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ name, description: 'failover write' }),
            signal: AbortSignal.timeout(5000),
          }),
        (body) => acknowledged.push((body as { id: string }).id),
      );
    }
  };
  const workers = [
    ...Array.from({ length: TOKEN_WORKERS }, tokenWorker),
    ...Array.from({ length: WRITE_WORKERS }, writeWorker),
  ];

  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const warm = samples.filter((s) => s.status < 200 || s.status >= 300);
  if (warm.length > 0) throw new Error(`failures before the primary was touched: ${JSON.stringify(warm.slice(0, 3))}`);

  const primary = (await findPrimary(cluster.nodes)) as Node;
  const replica = cluster.nodes.find((n) => n !== primary) as Node;
  const killedAt = now();
  if (KILL_MODE === 'crash') cluster.crash(primary);
  else cluster.stop(primary);
  console.log(
    `${KILL_MODE === 'crash' ? 'crashed (SIGKILL)' : 'stopped'} the primary ${primary.name} at ${seconds(killedAt)}`,
  );

  await waitFor(`${replica.name} to be promoted`, MAX_SWITCH_MS, () => cluster.isPrimary(replica));
  const promotedAt = now();
  console.log(`${replica.name} promoted ${seconds(promotedAt - killedAt)} after the kill`);

  // serving again: a token and a write both succeed after the last failure, then steady for a while
  let recoveredAt = Number.NaN;
  await waitFor('the product to serve again', MAX_SWITCH_MS, async () => {
    const after = samples.filter((s) => s.start >= killedAt);
    const lastFailure = Math.max(killedAt, ...after.filter((s) => !isOk(s)).map((s) => s.end));
    const okAfter = after.filter((s) => isOk(s) && s.start > lastFailure);
    if (!okAfter.some((s) => s.kind === 'token') || !okAfter.some((s) => s.kind === 'write')) return false;
    recoveredAt = Math.min(...okAfter.map((s) => s.end));
    return now() - recoveredAt > STEADY_AFTER_RECOVERY_MS;
  });
  running = false;
  await Promise.all(workers);

  // every acknowledged write must be on the new primary
  const check = new pg.Client({ connectionString: viaHaproxy('idp') });
  await check.connect();
  const { rows } = await check.query<{ id: string }>('SELECT id FROM roles WHERE id = ANY($1::text[])', [acknowledged]);
  await check.end();
  const found = new Set(rows.map((r) => r.id));
  const lost = acknowledged.filter((id) => !found.has(id));

  const during = samples.filter((s) => s.end >= killedAt && s.start <= recoveredAt);
  const failures = during.filter((s) => !isOk(s));
  const byStatus = new Map<string, number>();
  for (const s of failures) {
    const key = `${s.kind} ${s.status === 0 ? 'no answer' : s.status}${s.retryAfter === null ? '' : ' +Retry-After'}`;
    byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
  }
  const outageStart = failures.length > 0 ? Math.min(...failures.map((s) => s.start)) : killedAt;
  const report = {
    killMode: KILL_MODE,
    promotionSeconds: round((promotedAt - killedAt) / 1000),
    servingAgainSecondsAfterKill: round((recoveredAt - killedAt) / 1000),
    servingAgainSecondsAfterPromotion: round((recoveredAt - promotedAt) / 1000),
    failedRequestWindowSeconds: round((recoveredAt - outageStart) / 1000),
    requests: samples.length,
    failedRequestsDuringSwitch: failures.length,
    tokensIssuedDuringSwitch: during.filter((s) => s.kind === 'token' && isOk(s)).length,
    tokensRefusedDuringSwitch: failures.filter((s) => s.kind === 'token').length,
    statusesDuringSwitch: Object.fromEntries(byStatus),
    acknowledgedWrites: acknowledged.length,
    lostWrites: lost.length,
    runtimeSeconds: round(now() / 1000),
  };
  console.log(JSON.stringify(report, null, 2));

  let failed = 0;
  const expect = (ok: boolean, message: string) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`);
    if (!ok) failed++;
  };
  expect(
    lost.length === 0,
    `every acknowledged write survived (${acknowledged.length} acknowledged, ${lost.length} lost)`,
  );
  expect(
    report.servingAgainSecondsAfterPromotion <= MAX_RECOVERY_S,
    `serving again ${report.servingAgainSecondsAfterPromotion} s after the promotion (at most ${MAX_RECOVERY_S} s)`,
  );
  expect(
    failures.every((s) => s.status === 503 && s.retryAfter !== null),
    `every request refused during the switch is 503 with Retry-After (${JSON.stringify(report.statusesDuringSwitch)})`,
  );
  // static stability: the client and its API were known before the kill, so its tokens need no database
  expect(
    report.tokensRefusedDuringSwitch === 0,
    `client-credentials tokens kept being issued during the switch (${report.tokensIssuedDuringSwitch} issued, ${report.tokensRefusedDuringSwitch} refused)`,
  );
  if (failed > 0) {
    console.log(`--- product log (tail) ---\n${cluster.logTail('app', 20)}`);
  }
  return failed === 0 ? 0 : 1;
}

const isOk = (s: Sample) => s.status >= 200 && s.status < 300;
const round = (n: number) => Math.round(n * 100) / 100;

async function findPrimary(nodes: Node[]): Promise<Node | undefined> {
  for (const node of nodes) if (await cluster.isPrimary(node)) return node;
  return undefined;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`FAIL: ${(err as Error).stack ?? String(err)}`);
  for (const name of ['node1', 'node2', 'haproxy', 'etcd', 'app']) {
    const tail = cluster.logTail(name, 15);
    if (tail) console.error(`--- ${name}.log (tail) ---\n${tail}`);
  }
} finally {
  cleanup();
}
process.exit(code);
