import { z } from 'zod';
import type { ClientChanges, ClientMetadata, NewClient as NewClientInput } from '../clients.ts';
import { redirectUriProblem } from '../redirect-uri-policy.ts';
import { RoleNames, resourceIdentifier, scopeList } from './admin.ts';
import { FederatedSubjects } from './federation.ts';

/*
 * The admin API's client fields, in services so that the operator CLI validates a client
 * exactly as the admin API does.
 */

const httpsUrl = z
  .string()
  .max(2048)
  .refine((v) => URL.parse(v)?.protocol === 'https:', 'must be an https URL');

const GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:token-exchange',
] as const;
const AUTH_METHODS = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
  'none',
] as const;

const uriList = z.array(z.string().max(2048)).max(20);

/** RFC 7591 client metadata that this server accepts, plus our own fields. */
const clientFields = {
  client_name: z.string().trim().min(1).max(200),
  application_type: z.enum(['web', 'native']),
  redirect_uris: uriList,
  post_logout_redirect_uris: uriList,
  grant_types: z
    .array(z.enum(GRANT_TYPES, { error: `must be one of ${GRANT_TYPES.join(', ')} (no implicit or password grant)` }))
    .min(1)
    .max(GRANT_TYPES.length),
  response_types: z.array(z.enum(['code'], { error: 'must be code (no implicit flow)' })).max(1),
  token_endpoint_auth_method: z.enum(AUTH_METHODS),
  scope: z.string().max(2000),
  jwks: z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(20) }),
  jwks_uri: httpsUrl,
  token_endpoint_auth_signing_alg: z.enum(['RS256', 'PS256', 'ES256', 'EdDSA']),
  // RFC 8705 §2.1.2: exactly one of these names the certificate of a tls_client_auth client
  tls_client_auth_subject_dn: z.string().trim().min(3).max(1024),
  tls_client_auth_san_dns: z
    .string()
    .max(253)
    .regex(
      /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/,
      'must be a DNS name',
    ),
  tls_client_auth_san_uri: z
    .string()
    .max(2048)
    .refine((v) => URL.parse(v) !== null, 'must be an absolute URI'),
  tls_client_auth_san_ip: z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' }),
  tls_client_auth_san_email: z.email().max(320),
  // RFC 8705 §3.4, RFC 9449 §5.2: access tokens bound to the client's certificate or DPoP key
  tls_client_certificate_bound_access_tokens: z.boolean(),
  dpop_bound_access_tokens: z.boolean(),
  // RFC 9126 §6: this client's authorization requests only through PAR
  require_pushed_authorization_requests: z.boolean(),
  // FAPI 2.0 Security Profile for this client (src/oidc/fapi.ts)
  fapi_profile: z.enum(['off', '2.0']),
  id_token_signed_response_alg: z.enum(['RS256', 'PS256', 'ES256', 'EdDSA']),
  client_uri: httpsUrl,
  logo_uri: httpsUrl,
  policy_uri: httpsUrl,
  tos_uri: httpsUrl,
  contacts: z.array(z.email().max(320)).max(10),
  default_max_age: z.number().int().min(0).max(31_536_000),
  require_auth_time: z.boolean(),
  allowedResources: z
    .record(resourceIdentifier, scopeList)
    .refine((v) => Object.keys(v).length <= 100, 'at most 100 resources'),
  first_party: z.boolean(),
  /** sign-ins for this client need a passkey (after the password, or a verified passkey alone) */
  require_mfa: z.boolean(),
  roles: RoleNames,
  /** the APIs (identifiers) whose access tokens this client may introspect: it is their resource server */
  introspection_audiences: z
    .array(resourceIdentifier)
    .max(100)
    .refine((list) => new Set(list).size === list.length, 'must not list an audience twice'),
  /**
   * RFC 8693 token exchange (with the token-exchange grant in grant_types): the APIs whose access
   * tokens this client may exchange, and whether the new tokens leave it out of `act`
   */
  tokenExchange: z.strictObject({
    fromAudiences: z
      .array(resourceIdentifier)
      .max(100)
      .refine((list) => new Set(list).size === list.length, 'must not list an audience twice')
      .describe('the audiences (API identifiers) of the subject tokens this client may exchange'),
    impersonation: z
      .boolean()
      .optional()
      .describe('the new tokens carry no act for this client; only a token holding admin sets it'),
  }),
  /** workload identity: tokens of these (issuer, subject) pairs authenticate this client (ADR 0017) */
  federatedSubjects: FederatedSubjects,
};

type ClientShape = { [K in keyof typeof clientFields]: z.ZodOptional<(typeof clientFields)[K]> };
const optionalFields = Object.fromEntries(
  Object.entries(clientFields).map(([key, schema]) => [key, schema.optional()]),
) as ClientShape;

function checkUris(
  value: {
    application_type?: 'web' | 'native' | undefined;
    redirect_uris?: string[] | undefined;
    post_logout_redirect_uris?: string[] | undefined;
  },
  ctx: z.RefinementCtx,
) {
  const type = value.application_type ?? 'web';
  for (const field of ['redirect_uris', 'post_logout_redirect_uris'] as const) {
    for (const [i, uri] of (value[field] ?? []).entries()) {
      const problem = redirectUriProblem(uri, type);
      if (problem) ctx.addIssue({ code: 'custom', path: [field, i], message: problem });
    }
  }
}

export const NewClient = z
  .strictObject({
    client_id: z
      .string()
      .regex(/^[A-Za-z0-9._~-]{1,128}$/, 'must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -')
      .optional(),
    ...optionalFields,
  })
  .superRefine(checkUris);

export const ClientPatch = z
  .strictObject(optionalFields)
  .superRefine(checkUris)
  .refine((v) => Object.keys(v).length > 0, 'name at least one field to change');

export type ClientPatchBody = z.infer<typeof ClientPatch>;

/** Splits the body into RFC 7591 metadata and our own fields. */
function splitClientBody(body: ClientPatchBody) {
  const {
    allowedResources,
    first_party,
    roles: _,
    federatedSubjects: __,
    ...metadata
  } = body as ClientPatchBody & { client_id?: string };
  delete (metadata as { client_id?: string }).client_id;
  return { metadata: metadata as ClientMetadata, allowedResources, firstParty: first_party };
}

/** A service (no redirect URIs) gets client_credentials; an application, the code flow. */
function withClientDefaults(metadata: ClientMetadata): ClientMetadata {
  const interactive = (metadata.redirect_uris ?? []).length > 0;
  const grant_types =
    metadata.grant_types ?? (interactive ? ['authorization_code', 'refresh_token'] : ['client_credentials']);
  return {
    application_type: 'web',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [],
    ...metadata,
    grant_types,
    response_types:
      (metadata.response_types as string[] | undefined) ?? (grant_types.includes('authorization_code') ? ['code'] : []),
  };
}

/** A creation body as the client service takes it: our fields apart, metadata with its defaults. */
export function newClientOf(body: z.infer<typeof NewClient>): NewClientInput {
  const { metadata, allowedResources, firstParty } = splitClientBody(body);
  return {
    client_id: body.client_id,
    metadata: withClientDefaults(metadata),
    allowedResources: allowedResources ?? {},
    firstParty: firstParty ?? false,
  };
}

/**
 * A PATCH body as changes to a client with metadata `current`: metadata named in the body is
 * merged over the current one (defaults applied again), our own fields replace theirs.
 */
export function clientChangesOf(body: ClientPatchBody, current: ClientMetadata): ClientChanges {
  const { metadata, allowedResources, firstParty } = splitClientBody(body);
  return {
    metadata: Object.keys(metadata).length > 0 ? withClientDefaults({ ...current, ...metadata }) : current,
    ...(allowedResources === undefined ? {} : { allowedResources }),
    ...(firstParty === undefined ? {} : { firstParty }),
  };
}

const timestamp = z.iso.datetime().describe('ISO 8601, UTC');

/** A client as the admin API shows it: its metadata, never its secret (see ClientWithSecretView). */
export const ClientView = z.strictObject({
  client_id: z.string(),
  ...optionalFields,
  allowedResources: z.record(z.string(), z.array(z.string())),
  first_party: z.boolean(),
  roles: z.array(z.string()),
  created_at: timestamp,
  updated_at: timestamp,
});

/**
 * The answer to a creation, a change or a secret rotation: `client_secret` is there when a
 * secret was just made (a confidential client created, a public one made confidential, a
 * rotation); it is shown this once and never stored in plaintext.
 */
export const ClientWithSecretView = ClientView.extend({
  client_secret: z.string().optional().describe('the new plaintext secret, shown this once'),
});

/** The answer to a rotation: always a new secret. */
export const ClientRotatedView = ClientView.extend({
  client_secret: z.string().describe('the new plaintext secret, shown this once'),
});
