/**
 * Client metadata, set by an admin only: the audiences (API identifiers) whose access tokens
 * this client may introspect. An API that asks this server about tokens authenticates as a
 * client of its own and lists its identifier here.
 */
export const INTROSPECTION_AUDIENCES = 'introspection_audiences';

interface Caller {
  readonly clientId: string;
  readonly clientAuthMethod?: string | undefined;
  metadata(): Record<string, unknown>;
}

interface Introspected {
  readonly kind: string;
  readonly clientId?: string | undefined;
  readonly aud?: unknown;
}

/**
 * RFC 7662 §2.1, §4: the server decides who may learn about a token. A client may introspect
 * the tokens issued to it (it holds them already), and a confidential client the access tokens
 * whose audience an admin listed in its `introspection_audiences`: the resource server the
 * token is for. Refresh tokens only ever to the client they were issued to. Anyone else is
 * answered `{"active": false}` (§2.2), as for an unknown token.
 */
export function mayIntrospect(caller: Caller, token: Introspected): boolean {
  if (token.clientId !== undefined && token.clientId === caller.clientId) return true;
  if (token.kind === 'RefreshToken' || caller.clientAuthMethod === 'none') return false;
  const allowed = caller.metadata()[INTROSPECTION_AUDIENCES];
  if (!Array.isArray(allowed) || allowed.length === 0) return false;
  const audiences = Array.isArray(token.aud) ? token.aud : [token.aud];
  return audiences.some((aud) => typeof aud === 'string' && allowed.includes(aud));
}

/** The metadata validator's check of `introspection_audiences`; a problem, or undefined. */
export function introspectionAudiencesProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    value.length > 100 ||
    !value.every((v) => typeof v === 'string' && v.length <= 2048 && URL.parse(v) !== null)
  ) {
    return `${INTROSPECTION_AUDIENCES} must be an array of at most 100 absolute URIs`;
  }
  return undefined;
}
