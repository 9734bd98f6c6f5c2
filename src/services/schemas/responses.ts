import { z } from 'zod';

// What the admin API answers with. The HTTP layer's `view` functions build these bodies; the
// OpenAPI document describes them from these schemas (z.toJSONSchema), and a test checks real
// answers against the document, so the schemas and the views cannot drift apart. Objects are
// strict: a field a view adds without a schema fails that test (a secret cannot slip into a list).

const timestamp = z.iso.datetime().describe('ISO 8601, UTC');

/** A list: one page of items and, when there may be more, the cursor for the next (`?after=`). */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.strictObject({
    data: z.array(item),
    next: z.string().optional().describe('pass as `after` to read the next page; absent on the last page'),
  });

/** A whole list in one answer (no paging). */
export const listOf = <T extends z.ZodType>(item: T) => z.strictObject({ data: z.array(item) });

export const ErrorBody = z.strictObject({
  error: z.string().describe('a stable code: invalid_request, invalid_token, not_found, conflict, ...'),
  error_description: z.string(),
  details: z
    .array(z.strictObject({ field: z.string(), message: z.string() }))
    .optional()
    .describe('which fields of the request are wrong, and why'),
});

export const ResourceView = z.strictObject({
  id: z.string(),
  identifier: z.string().describe('the resource indicator (RFC 8707), the audience of its access tokens'),
  name: z.string(),
  scopes: z.array(z.string()),
  accessTokenTtl: z.number().int().describe('seconds'),
  rolesClaim: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const RoleView = z.strictObject({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  permissions: z.array(z.strictObject({ resource: z.string(), scope: z.string() })),
  created_at: timestamp,
  updated_at: timestamp,
});

export const UserView = z.strictObject({
  id: z.string(),
  username: z.string(),
  email: z.string().nullable(),
  emailVerified: z.boolean(),
  name: z.string().nullable(),
  givenName: z.string().nullable(),
  familyName: z.string().nullable(),
  status: z.enum(['active', 'disabled']),
  has_password: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
  last_sign_in_at: timestamp.nullable(),
  roles: z.array(z.string()),
});

export const PasskeyView = z.strictObject({
  id: z.string(),
  name: z.string(),
  credential_id: z.string().describe('base64url'),
  aaguid: z.string(),
  transports: z.array(z.string()),
  backup_eligible: z.boolean(),
  backed_up: z.boolean(),
  counter: z.number().int(),
  created_at: timestamp,
  last_used_at: timestamp.nullable(),
});

export const SecondFactorResetView = z.strictObject({
  user_id: z.string(),
  totp_removed: z.boolean().describe('an authenticator app (confirmed or being enrolled) was removed'),
  recovery_codes_removed: z.number().int().describe('recovery codes removed, used ones included'),
});

export const EventView = z.strictObject({
  id: z.string(),
  type: z.string().describe('signin.failed, client.updated, ...'),
  time: timestamp,
  outcome: z.string().describe('success or failure'),
  actor: z.string().nullable(),
  subject: z.string().nullable(),
  client_id: z.string().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});

const counts = z.array(z.number().int()).describe('one count per bucket, oldest first');

export const EventActivityView = z.strictObject({
  window: z.enum(['hour', 'day']),
  since: timestamp,
  until: timestamp,
  bucket_seconds: z.number().int(),
  buckets: z.array(timestamp).describe('the start of each bucket, oldest first'),
  series: z.strictObject({
    signins_succeeded: counts,
    signins_failed: counts,
    tokens_issued: counts,
    lockouts: counts,
    rate_limit_trips: counts,
    surges: counts,
  }),
  surges: z.array(
    z.strictObject({
      id: z.string(),
      time: timestamp,
      kind: z.string().describe('failures or tokens'),
      dimension: z.string().describe('ip, client or account'),
      key: z.string().nullable().describe('the address, client id or digest of the sign-in name that surged'),
      per_minute: z.number().nullable(),
      threshold: z.number().nullable(),
      action: z.string().nullable().describe('the limits that apply to it'),
      rate_limit_trips: z
        .number()
        .int()
        .describe('rate limits tripped by the same key from a minute before to 10 minutes after'),
      lockouts: z.number().int().describe('sign-in lockouts of the same key in that time'),
    }),
  ),
});

export const KeyView = z.strictObject({
  kid: z.string(),
  alg: z.string(),
  current: z.boolean().describe('the key that signs now'),
  created_at: timestamp,
  expires_at: timestamp.nullable(),
});

export const KeysRotated = z.strictObject({
  rotated: z.array(z.string()).describe('the kids of the new keys'),
});

export const InitialAccessTokenView = z.strictObject({
  initial_access_token: z.string().describe('shown this once: send it as a Bearer token to the registration endpoint'),
  expires_at: timestamp,
  uses: z.number().int(),
});

/** `POST /admin/users/{id}/password-reset`: the link is on its way (in the outbox) and works until `expires_at`. */
export const PasswordResetSent = z.strictObject({
  expires_at: timestamp.describe('when the mailed link stops working'),
});

/** A user's browser session (GET /admin/users/{id}/sessions): never its cookie or tokens. */
export const SessionView = z.strictObject({
  id: z
    .string()
    .describe("the session's id (oidc-provider's session uid), for DELETE /admin/users/{id}/sessions/{sessionId}"),
  createdAt: timestamp.describe('when the session signed in'),
  lastSeenAt: timestamp.describe('when it was last used (written at most once a minute)'),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
});
