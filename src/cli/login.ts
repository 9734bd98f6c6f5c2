import { chmod, mkdir, open } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { CliError, usageError } from './errors.ts';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 §3.5: with no interval announced, 5 seconds; `slow_down` adds 5 more */
const DEFAULT_INTERVAL = 5;

export const LOGIN_USAGE = `  login --url ISSUER --client-id ID  sign in as a person with the device flow (RFC 8628): prints where to go
                                   and the code to enter, waits, then saves the tokens
        [--scope "openid offline_access"] [--resource API] [--token-file PATH] [--json]`;

/** Where tokens are kept: `$XDG_CONFIG_HOME/idp/tokens.json`, or `~/.config/idp/tokens.json`. */
function defaultTokenFile(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  // the XDG spec: a relative value is ignored
  const base = xdg?.startsWith('/') ? xdg : join(homedir(), '.config');
  return join(base, 'idp', 'tokens.json');
}

/** https, or http to this machine only: tokens never cross a network in the clear. */
function issuerUrl(value: string): URL {
  const url = URL.parse(value);
  if (!url) throw usageError(`--url: not a URL (${value})`);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw usageError('--url must be https (http only on localhost)');
  }
  return url;
}

async function postForm(url: string, form: Record<string, string>) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(form),
    redirect: 'error',
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: res.status, body };
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** Writes `data` to `path` readable by its owner only (0600), in a directory only the owner enters (0700). */
async function writePrivate(path: string, data: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const file = await open(path, 'w', 0o600);
  try {
    // an existing file keeps its mode on open: make it private before the tokens go in
    await file.chmod(0o600);
    await file.writeFile(data);
  } finally {
    await file.close();
  }
  await chmod(path, 0o600);
}

/**
 * `idp login`: the device authorization grant from a terminal. Asks the server for a device
 * code, prints the verification address and the user code (on stderr, so stdout stays for
 * --json), polls the token endpoint at the announced interval (slower after `slow_down`), and
 * stores the tokens in a file only the user can read.
 */
export async function runLogin(args: string[], out: (line: string) => void, err: (line: string) => void) {
  const { values, positionals } = parseArgs({
    args,
    options: {
      url: { type: 'string' },
      'client-id': { type: 'string' },
      scope: { type: 'string' },
      resource: { type: 'string' },
      'token-file': { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 0) throw usageError(`unexpected arguments: ${positionals.join(' ')}`);
  const urlFlag = values.url ?? process.env.IDP_URL;
  if (!urlFlag) throw usageError('login needs --url ISSUER (or IDP_URL)');
  const clientId = values['client-id'] ?? process.env.IDP_LOGIN_CLIENT_ID;
  if (!clientId) throw usageError('login needs --client-id ID (a client allowed the device grant)');
  const issuer = issuerUrl(urlFlag).href.replace(/\/$/, '');
  const tokenFile = values['token-file'] ?? defaultTokenFile();

  const discovery = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(30_000) });
  if (!discovery.ok) throw new CliError(`discovery failed: ${discovery.status}`, 1);
  const metadata = (await discovery.json()) as Record<string, unknown>;
  const deviceEndpoint = text(metadata.device_authorization_endpoint);
  const tokenEndpoint = text(metadata.token_endpoint);
  if (metadata.issuer !== issuer || !deviceEndpoint || !tokenEndpoint) {
    throw new CliError(`${issuer} does not offer the device flow (or is not that issuer)`, 1);
  }

  const scope = values.scope ?? 'openid offline_access';
  const started = await postForm(deviceEndpoint, {
    client_id: clientId,
    scope,
    ...(values.resource ? { resource: values.resource } : {}),
  });
  if (started.status !== 200) {
    throw new CliError(
      `device authorization refused: ${text(started.body.error_description) ?? text(started.body.error) ?? started.status}`,
      1,
    );
  }
  const deviceCode = text(started.body.device_code);
  const userCode = text(started.body.user_code);
  const verificationUri = text(started.body.verification_uri);
  if (!deviceCode || !userCode || !verificationUri) throw new CliError('the server answered without a device code', 1);
  let interval = Number(started.body.interval) > 0 ? Number(started.body.interval) : DEFAULT_INTERVAL;
  const deadline = Date.now() + (Number(started.body.expires_in) > 0 ? Number(started.body.expires_in) : 600) * 1000;

  err(`To sign in, open ${verificationUri} and enter the code ${userCode}`);
  const complete = text(started.body.verification_uri_complete);
  if (complete) err(`(or open ${complete})`);
  err('Waiting for you to approve...');

  for (;;) {
    await new Promise((r) => setTimeout(r, interval * 1000));
    if (Date.now() > deadline) throw new CliError('the code expired before it was approved; run login again', 1);
    const polled = await postForm(tokenEndpoint, {
      grant_type: DEVICE_GRANT,
      device_code: deviceCode,
      client_id: clientId,
    });
    if (polled.status === 200) {
      const body = polled.body;
      const now = Math.floor(Date.now() / 1000);
      const stored = {
        issuer,
        client_id: clientId,
        obtained_at: now,
        expires_at: Number(body.expires_in) > 0 ? now + Number(body.expires_in) : undefined,
        token_type: body.token_type,
        scope: body.scope,
        access_token: body.access_token,
        refresh_token: body.refresh_token,
        id_token: body.id_token,
      };
      await writePrivate(tokenFile, `${JSON.stringify(stored, null, 2)}\n`);
      err(`Signed in. Tokens saved to ${tokenFile} (readable by you only).`);
      if (values.json) out(JSON.stringify(stored, null, 2));
      return;
    }
    const error = text(polled.body.error);
    if (error === 'authorization_pending') continue;
    if (error === 'slow_down') {
      interval += 5;
      continue;
    }
    if (error === 'access_denied') throw new CliError('the sign-in was cancelled', 1);
    if (error === 'expired_token') throw new CliError('the code expired before it was approved; run login again', 1);
    throw new CliError(`token request refused: ${text(polled.body.error_description) ?? error ?? polled.status}`, 1);
  }
}
