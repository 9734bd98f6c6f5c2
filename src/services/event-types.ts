/**
 * Every type of security event the server records (`GET /admin/events`), so that a webhook's
 * event filter can be checked when it is registered: a misspelt pattern that would silently
 * match nothing is a 400, not a SIEM that never hears of a sign-in failure.
 */
const SECURITY_EVENT_TYPES = [
  'signin.succeeded',
  'signin.failed',
  'signin.locked',
  'passkey.added',
  'passkey.removed',
  'passkey.counter_regression',
  'consent.granted',
  'consent.denied',
  'consent.revoked',
  'grant.revoked',
  'token.issued',
  'token.refreshed',
  'token.revoked',
  'token.reuse_detected',
  'token.exchanged',
  'token.exchange_refused',
  'client.auth_failed',
  'client.created',
  'client.updated',
  'client.deleted',
  'client.secret_rotated',
  'client.secret_added',
  'client.secret_removed',
  'federated_issuer.created',
  'federated_issuer.updated',
  'federated_issuer.deleted',
  'user.created',
  'user.updated',
  'user.deleted',
  'user.unlocked',
  'role.created',
  'role.updated',
  'role.deleted',
  'resource.created',
  'resource.updated',
  'resource.deleted',
  'key.rotated',
  'initial_access_token.created',
  'ratelimit.tripped',
  'surge.detected',
  'device.approved',
  'device.denied',
  'device.code_rejected',
  'backchannel_logout.delivered',
  'backchannel_logout.failed',
  'password.reset_requested',
  'password.changed',
  'email.verified',
  'mfa.totp_added',
  'mfa.totp_removed',
  'mfa.recovery_codes_generated',
  'mfa.recovery_code_used',
  'mfa.reset',
  'session.revoked',
  'webhook.created',
  'webhook.updated',
  'webhook.deleted',
  'webhook.secret_rotated',
] as const;

const KNOWN: ReadonlySet<string> = new Set(SECURITY_EVENT_TYPES);
const FAMILIES: ReadonlySet<string> = new Set(SECURITY_EVENT_TYPES.map((t) => t.slice(0, t.indexOf('.'))));

/**
 * Why `pattern` is not a webhook event filter, or undefined when it is one: an exact type
 * (`signin.failed`), a family of types (`user.*`), or `*` for every event.
 */
export function eventPatternProblem(pattern: string): string | undefined {
  if (pattern === '*' || KNOWN.has(pattern)) return undefined;
  if (pattern.endsWith('.*') && FAMILIES.has(pattern.slice(0, -2))) return undefined;
  return 'is not an event type (signin.failed), a family of them (user.*) or *';
}
