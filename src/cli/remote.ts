import type { ErrorDetail } from '../errors.ts';
import { type AdminBackend, COLLECTIONS, type Json, type Page } from './backend.ts';
import { CliError, describeFailure, exitCodeFor } from './errors.ts';

export interface RemoteOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scope: string;
}

interface Reply {
  status: number;
  body: unknown;
}

const asJson = (value: unknown): Json => (value && typeof value === 'object' ? (value as Json) : {});

async function send(url: string, init: RequestInit): Promise<Reply> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot reach ${new URL(url).origin}: ${cause?.code ?? cause?.message ?? String(err)}`, 1);
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON (a proxy's error page): reported by status below
  }
  return { status: res.status, body };
}

/** An admin API or token endpoint refusal: its `error_description` and the fields it names. */
function refusal(what: string, { status, body }: Reply): CliError {
  const json = asJson(body);
  const description =
    typeof json.error_description === 'string'
      ? json.error_description
      : typeof json.error === 'string'
        ? json.error
        : `HTTP ${status}`;
  const details = Array.isArray(json.details) ? (json.details as ErrorDetail[]) : undefined;
  return new CliError(`${what}: ${describeFailure(description, details)}`, exitCodeFor(status));
}

/**
 * Through a running server's admin API, with an access token the client credentials fetch
 * (DESIGN.md §3: `grant_type=client_credentials&resource=<ISSUER>/admin&scope=admin`). The
 * admin delegation rules apply to that token as to any admin's.
 */
export async function openRemote(options: RemoteOptions): Promise<AdminBackend> {
  const issuer = options.issuer.replace(/\/+$/, '');
  const discovery = await send(`${issuer}/.well-known/openid-configuration`, {});
  const tokenEndpoint = asJson(discovery.body).token_endpoint;
  if (discovery.status !== 200 || typeof tokenEndpoint !== 'string') {
    throw new CliError(`${issuer} does not look like this identity provider (no discovery document)`, 1);
  }
  // RFC 6749 §2.3.1: form-encode both before Basic, so any character survives
  const basic = Buffer.from(
    `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
  ).toString('base64');
  const granted = await send(tokenEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${issuer}/admin`, scope: options.scope }),
  });
  const token = asJson(granted.body).access_token;
  if (granted.status !== 200 || typeof token !== 'string') {
    throw new CliError(refusal('cannot get an admin token', { ...granted, status: 401 }).message, 1);
  }

  const call = async (method: string, path: string, body?: Json): Promise<unknown> => {
    const reply = await send(`${issuer}/admin${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (reply.status >= 400) throw refusal(`${method} /admin${path}`, reply);
    return reply.body;
  };
  const item = (noun: keyof typeof COLLECTIONS, id: string) => `/${COLLECTIONS[noun]}/${encodeURIComponent(id)}`;

  return {
    list: async (noun, { limit, after, filters }) => {
      const query = new URLSearchParams({ limit: String(limit), ...(after ? { after } : {}), ...filters });
      return asJson(await call('GET', `/${COLLECTIONS[noun]}?${query}`)) as unknown as Page;
    },
    show: async (noun, id) => asJson(await call('GET', item(noun, id))),
    create: async (noun, body) => asJson(await call('POST', `/${COLLECTIONS[noun]}`, body)),
    update: async (noun, id, body) => asJson(await call('PATCH', item(noun, id), body)),
    delete: async (noun, id) => {
      await call('DELETE', item(noun, id));
    },
    unlock: async (id) => {
      await call('POST', `${item('user', id)}/unlock`);
    },
    rotateSecret: async (id) => asJson(await call('POST', `${item('client', id)}/secret`)),
    listSecrets: async (id) => asJson(await call('GET', `${item('client', id)}/secrets`)) as unknown as Page,
    addSecret: async (id, body) => asJson(await call('POST', `${item('client', id)}/secrets`, body)),
    removeSecret: async (id, secretId) => {
      await call('DELETE', `${item('client', id)}/secrets/${encodeURIComponent(secretId)}`);
    },
    rotateKeys: async () => asJson(await call('POST', '/keys/rotate')) as { rotated: string[] },
    listKeys: async () => asJson(await call('GET', '/keys')) as unknown as Page,
    close: async () => {},
  };
}
