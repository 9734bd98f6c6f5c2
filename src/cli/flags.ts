import { parseArgs } from 'node:util';
import type { Json, Noun } from './backend.ts';
import { usageError } from './errors.ts';

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** Per noun: the flags of `create` and `update`, and how they become the admin API's body. */
const FIELD_FLAGS = {
  client: {
    'client-id': { type: 'string' },
    name: { type: 'string' },
    'application-type': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    'grant-type': { type: 'string', multiple: true },
    'auth-method': { type: 'string' },
    public: { type: 'boolean' },
    scope: { type: 'string' },
    resource: { type: 'string', multiple: true },
    role: { type: 'string', multiple: true },
    'first-party': { type: 'boolean' },
    'require-mfa': { type: 'boolean' },
    'exchange-from': { type: 'string', multiple: true },
    impersonation: { type: 'boolean' },
  },
  resource: {
    identifier: { type: 'string' },
    name: { type: 'string' },
    scope: { type: 'string', multiple: true },
    ttl: { type: 'string' },
    'roles-claim': { type: 'boolean' },
  },
  role: {
    name: { type: 'string' },
    description: { type: 'string' },
    permission: { type: 'string', multiple: true },
  },
  user: {
    username: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    'given-name': { type: 'string' },
    'family-name': { type: 'string' },
    status: { type: 'string' },
    'email-verified': { type: 'boolean' },
    role: { type: 'string', multiple: true },
    'password-stdin': { type: 'boolean' },
  },
} as const satisfies Record<Noun, Options>;

/** The admin API's list filters, by flag. */
const FILTER_FLAGS: Record<Noun, Record<string, string>> = {
  client: { name: 'client_name' },
  resource: { identifier: 'identifier' },
  role: { name: 'name' },
  user: { status: 'status', username: 'username', email: 'email' },
};

const COMMON = {
  json: { type: 'boolean' },
  url: { type: 'string' },
  // not --scope: clients and APIs have a field by that name
  'token-scope': { type: 'string' },
  yes: { type: 'boolean' },
  limit: { type: 'string' },
  after: { type: 'string' },
  'password-stdin': { type: 'boolean' },
} as const satisfies Options;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parse(args: string[], noun: Noun | undefined, extra: Options = {}): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...COMMON, ...(noun ? FIELD_FLAGS[noun] : {}), ...extra },
      allowPositionals: true,
      allowNegative: true,
      strict: true,
    });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    throw usageError((err as Error).message);
  }
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : undefined);

/** `IDENTIFIER=a,b` (split at the last `=`: an identifier may hold one) */
function pair(flag: string, entry: string): [string, string] {
  const at = entry.lastIndexOf('=');
  if (at <= 0) throw usageError(`--${flag} takes IDENTIFIER=scope (got ${entry})`);
  return [entry.slice(0, at), entry.slice(at + 1)];
}

function integer(flag: string, v: string): number {
  if (!/^\d{1,9}$/.test(v)) throw usageError(`--${flag} takes a whole number of seconds (got ${v})`);
  return Number(v);
}

/** The body `create` or `update` sends: only the fields whose flags were given. */
export function bodyOf(noun: Noun, values: Parsed['values']): Json {
  const body: Json = {};
  const set = (field: string, value: unknown) => {
    if (value !== undefined) body[field] = value;
  };
  if (noun === 'client') {
    set('client_id', str(values['client-id']));
    set('client_name', str(values.name));
    set('application_type', str(values['application-type']));
    set('redirect_uris', list(values['redirect-uri']));
    set('post_logout_redirect_uris', list(values['post-logout-redirect-uri']));
    set('grant_types', list(values['grant-type']));
    set('token_endpoint_auth_method', values.public === true ? 'none' : str(values['auth-method']));
    set('scope', str(values.scope));
    const resources = list(values.resource);
    if (resources) {
      body.allowedResources = Object.fromEntries(
        resources.map((e) => {
          const [identifier, scopes] = pair('resource', e);
          return [identifier, scopes.split(',').filter(Boolean)];
        }),
      );
    }
    set('roles', list(values.role));
    set('first_party', values['first-party']);
    set('require_mfa', values['require-mfa']);
    // RFC 8693: the whole setting is sent, so --exchange-from is needed with --impersonation
    const exchangeFrom = list(values['exchange-from']);
    if (exchangeFrom || values.impersonation !== undefined) {
      if (!exchangeFrom) throw usageError('--impersonation needs --exchange-from');
      body.tokenExchange = {
        fromAudiences: exchangeFrom,
        ...(values.impersonation === undefined ? {} : { impersonation: values.impersonation }),
      };
    }
  } else if (noun === 'resource') {
    set('identifier', str(values.identifier));
    set('name', str(values.name));
    set('scopes', list(values.scope));
    const ttl = str(values.ttl);
    if (ttl !== undefined) body.accessTokenTtl = integer('ttl', ttl);
    set('rolesClaim', values['roles-claim']);
  } else if (noun === 'role') {
    set('name', str(values.name));
    set('description', str(values.description));
    const permissions = list(values.permission);
    if (permissions) {
      body.permissions = permissions.map((e) => {
        const [resource, scope] = pair('permission', e);
        return { resource, scope };
      });
    }
  } else {
    set('username', str(values.username));
    set('email', str(values.email));
    set('name', str(values.name));
    set('givenName', str(values['given-name']));
    set('familyName', str(values['family-name']));
    set('status', str(values.status));
    set('emailVerified', values['email-verified']);
    set('roles', list(values.role));
  }
  return body;
}

/** The list filters given as flags, by the admin API's query names. */
export function filtersOf(noun: Noun, values: Parsed['values']): Record<string, string> {
  const filters: Record<string, string> = {};
  for (const [flag, query] of Object.entries(FILTER_FLAGS[noun])) {
    const v = str(values[flag]);
    if (v !== undefined) filters[query] = v;
  }
  return filters;
}
