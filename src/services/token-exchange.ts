import type { AccessTokenClaims } from './access-tokens.ts';

/** RFC 8693 §2.1: the grant type of a token exchange. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3: the only token type this server takes as a subject token and issues. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * A private claim of an exchanged token whose subject is a client (the subject token was a
 * client-credentials token): `sub` is then that client's id, not a user's, and whether the
 * token still stands is decided by that client.
 */
export const CLIENT_SUBJECT_CLAIM = 'sub_kind';

/** RFC 8693 §4.1: who acted, nested along a chain (the innermost acted first). */
export interface Actor {
  sub: string;
  act?: Actor;
}

/** What an admin allows a client: `tokenExchange` in its metadata. */
export interface TokenExchangeSettings {
  /** the audiences (API identifiers) of the subject tokens this client may exchange */
  fromAudiences: readonly string[];
  /** the new tokens carry no `act` for this client (it acts as the user); only an `admin` token sets it */
  impersonation: boolean;
}

/** A chain this deep is refused: each hop adds to every token's size, and no real call chain is longer. */
const MAX_CHAIN = 10;

export function tokenExchangeSettingsOf(
  metadata: Readonly<Record<string, unknown>>,
): TokenExchangeSettings | undefined {
  const value = metadata.tokenExchange as { fromAudiences?: unknown; impersonation?: unknown } | undefined;
  if (typeof value !== 'object' || value === null || !Array.isArray(value.fromAudiences)) return undefined;
  const fromAudiences = value.fromAudiences.filter((a): a is string => typeof a === 'string');
  return { fromAudiences, impersonation: value.impersonation === true };
}

/** Whether a subject token with audience `aud` may be exchanged under `settings`. */
export function acceptsAudience(settings: TokenExchangeSettings, aud: unknown): boolean {
  const audiences = Array.isArray(aud) ? aud : [aud];
  return audiences.some((a) => typeof a === 'string' && settings.fromAudiences.includes(a));
}

/** The `act` of a verified token of ours, when it has a well-formed one. */
function actorOf(value: unknown, depth = 0): Actor | undefined {
  if (typeof value !== 'object' || value === null || depth > MAX_CHAIN) return undefined;
  const { sub, act } = value as { sub?: unknown; act?: unknown };
  if (typeof sub !== 'string') return undefined;
  const inner = act === undefined ? undefined : actorOf(act, depth + 1);
  return inner ? { sub, act: inner } : { sub };
}

const depthOf = (actor: Actor | undefined): number => (actor ? 1 + depthOf(actor.act) : 0);

/**
 * RFC 8693 §4.1: the new token's `act` names the exchanging client, and the actors of the
 * subject token below it ("A called B, which called C": C's token has act {sub: B, act: {sub: A}}).
 * An impersonating client does not add itself; the actors before it stay, so an impersonation
 * never hides who acted earlier in the chain. `undefined` when there is no actor at all.
 * @returns 'too_long' past MAX_CHAIN actors
 */
export function nextActor(
  subject: Pick<AccessTokenClaims, 'act'>,
  actor: string,
  impersonation: boolean,
): Actor | undefined | 'too_long' {
  const previous = actorOf(subject.act);
  const next = impersonation ? previous : previous ? { sub: actor, act: previous } : { sub: actor };
  return depthOf(next) > MAX_CHAIN ? 'too_long' : next;
}

/** Whether a verified token's subject is a client: its own client-credentials token, or an exchange of one. */
export const subjectIsClient = (claims: Pick<AccessTokenClaims, 'sub' | 'client_id'> & Record<string, unknown>) =>
  claims.sub === claims.client_id || claims[CLIENT_SUBJECT_CLAIM] === 'client';

/**
 * RFC 8693 §2.2.1: the new token's lifetime, in seconds: the API's own, but never past the
 * subject token's expiry (a delegated call cannot outlive the token it came from).
 */
export const exchangedLifetime = (apiTtl: number, subjectExp: number, now = Math.floor(Date.now() / 1000)) =>
  Math.min(apiTtl, subjectExp - now);
