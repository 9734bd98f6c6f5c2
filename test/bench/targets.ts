import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPAQUE_RESOURCE } from './bare-provider.ts';
import { type Child, spawnNode } from './children.ts';
import { callJson, onOrigin } from './http-json.ts';

/** A running server the bench can load: where to send token requests, and as whom. */
export interface Target {
  readonly name: string;
  readonly child: Child;
  /** the issuer the server advertises (tokens' `iss`) */
  readonly issuer: string;
  /** token and JWKS endpoints, rewritten to the address we dial */
  readonly tokenEndpoint: string;
  readonly introspectionEndpoint: string;
  /** the API whose token the introspection scenario asks about (one the target introspects) */
  readonly introspectedResource: string;
  readonly jwksUrl: string;
  /** the target's PostgreSQL database, when it has one (for its per-request costs) */
  readonly database?: { readonly name: string; readonly url: string };
  /** the Redis it shares counters in, when it has one */
  readonly redisUrl?: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** stops the server and removes what it stored (database, data directory) */
  close(): Promise<void>;
}

export const REPO_ROOT = join(import.meta.dirname, '..', '..');

/**
 * The node command of `npm start` (package.json: `<build> && node <flags> <entry>`), so the product
 * runs exactly as users run it. The baseline gets the same flags: V8 settings (the young
 * generation's size) change memory and speed, and the comparison should measure our code, not a
 * different runtime configuration.
 */
const START = startCommand();

function startCommand(): { flags: string[]; entry: string } {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = (pkg.scripts.start.split('&&').at(-1) ?? '').trim().split(/\s+/);
  const entry = words.at(-1);
  if (words[0] !== 'node' || !entry?.endsWith('main.js'))
    throw new Error(`unexpected start script: ${pkg.scripts.start}`);
  return { flags: words.slice(1, -1), entry };
}

let built = false;
/** `npm run build` once per bench: the product's entry is the JavaScript it writes (decision 0011). */
export function productEntry(): string {
  if (!built) {
    execFileSync(process.execPath, ['--disable-warning=ExperimentalWarning', join(REPO_ROOT, 'scripts', 'build.mjs')], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
    built = true;
  }
  return START.entry;
}
export const STARTUP_TIMEOUT_MS = 120_000;

/** `node <flags> <entry>` from the repository root, as `npm start` would run it. */
export function spawnEntry(name: string, entry: string, env: NodeJS.ProcessEnv): Child {
  return spawnNode(name, [...START.flags, entry], { cwd: REPO_ROOT, env });
}

/** Reads discovery (OpenID Connect Discovery 1.0 §4) so endpoint paths come from the server, not from guesses. */
export async function discover(
  origin: string,
): Promise<{ issuer: string; tokenEndpoint: string; introspectionEndpoint: string; jwksUrl: string }> {
  const meta = await callJson<{
    issuer: string;
    token_endpoint: string;
    introspection_endpoint: string;
    jwks_uri: string;
  }>('GET', `${origin}/.well-known/openid-configuration`);
  return {
    issuer: meta.issuer,
    tokenEndpoint: onOrigin(meta.token_endpoint, origin),
    introspectionEndpoint: onOrigin(meta.introspection_endpoint, origin),
    jwksUrl: onOrigin(meta.jwks_uri, origin),
  };
}

/** The baseline with `env` added to its environment only (profiler options, a wrapper program). */
export async function startBareWith(name: string, env: NodeJS.ProcessEnv): Promise<Target> {
  const before = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, env);
  try {
    return await startBare(name);
  } finally {
    for (const [key, value] of Object.entries(before)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** The baseline: bare oidc-provider in a child process (see bare-server.ts). */
export async function startBare(name: string): Promise<Target> {
  const clientId = 'bench';
  const clientSecret = randomBytes(32).toString('base64url');
  const child = spawnEntry(name, join('test', 'bench', 'bare-server.ts'), {
    ...process.env,
    BENCH_CLIENT_ID: clientId,
    BENCH_CLIENT_SECRET: clientSecret,
  });
  try {
    const line = await child.waitForLine((l) => l.startsWith('{"url":'), STARTUP_TIMEOUT_MS);
    const { url } = JSON.parse(line) as { url: string };
    return {
      name,
      child,
      ...(await discover(url)),
      introspectedResource: OPAQUE_RESOURCE,
      clientId,
      clientSecret,
      close: () => child.stop(),
    };
  } catch (error) {
    await child.stop();
    throw error;
  }
}
