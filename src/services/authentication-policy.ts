/**
 * Authentication context classes (`acr`, OIDC Core §2) this server issues, weakest first.
 * `mfa` is what a client asks for with `acr_values=urn:idp:acr:mfa`.
 */
export const ACR = {
  password: 'urn:idp:acr:password',
  passkey: 'urn:idp:acr:passkey',
  mfa: 'urn:idp:acr:mfa',
} as const;
export const ACR_VALUES = [ACR.password, ACR.passkey, ACR.mfa] as const;

/** The login prompt's reason when a session exists but lacks the second factor something demands. */
export const MFA_REASON = 'mfa_required';

/**
 * The built-in client behind /account: the global policy spares it only while the account has no
 * second factor, so people can enrol their first passkey; once they have one, /account asks for it too.
 */
export const ACCOUNT_CLIENT_ID = 'idp-account';

export interface PasskeyFactor {
  userVerified: boolean;
  keyKind: 'hwk' | 'swk';
}

/**
 * `amr` (RFC 8176 §2) and `acr` for what was used. A passkey is something you have (`hwk` for a
 * device-bound key, `swk` for a synced one); with user verification (a PIN or biometric, WebAuthn
 * §6.1) it is also something you know or are, so on its own it is multi-factor (NIST SP 800-63B
 * §5.1.9); after a password it always is. A one-time code (`otp`: an authenticator app's TOTP
 * code, or a recovery code, itself a one-time password) is a second factor after a password only.
 */
export function authenticationMethods(factors: {
  password: boolean;
  passkey?: PasskeyFactor | undefined;
  otp?: boolean | undefined;
}): {
  amr: string[];
  acr: string;
} {
  const amr: string[] = [];
  if (factors.password) amr.push('pwd');
  if (factors.passkey) {
    amr.push(factors.passkey.keyKind, 'user');
  }
  if (factors.otp) amr.push('otp');
  const multi = factors.password
    ? factors.passkey !== undefined || factors.otp === true
    : factors.passkey?.userVerified === true;
  if (multi) amr.push('mfa');
  const acr = multi ? ACR.mfa : factors.password ? ACR.password : ACR.passkey;
  return { amr, acr };
}

export interface MfaPolicyOptions {
  /** MFA_REQUIRED: every client, and the account page once the user has a second factor */
  global: boolean;
  /** the user's own setting */
  userRequires(userId: string): Promise<boolean>;
  /** whether the user has a second factor (a passkey or an authenticator app) */
  hasSecondFactor(userId: string): Promise<boolean>;
}

/** Whether the request asked for MFA: `acr_values` (OIDC Core §3.1.2.1) or the acr of the `claims` parameter (§5.5.1.1). */
function requestedMfa(params: Readonly<Record<string, unknown>>): boolean {
  const acrValues = params.acr_values;
  if (typeof acrValues === 'string' && acrValues.split(' ').includes(ACR.mfa)) return true;
  if (typeof params.claims !== 'string') return false;
  try {
    const acr = (JSON.parse(params.claims) as { id_token?: { acr?: { value?: unknown; values?: unknown } } }).id_token
      ?.acr;
    return acr?.value === ACR.mfa || (Array.isArray(acr?.values) && acr.values.includes(ACR.mfa));
  } catch {
    return false;
  }
}

export interface MfaRequest {
  clientId: string | undefined;
  /** the client's `require_mfa` metadata */
  clientRequiresMfa: boolean;
  params: Readonly<Record<string, unknown>>;
}

export type MfaDecision = (request: MfaRequest, userId: string | undefined) => Promise<boolean>;

/** Whether this authorization request needs a second factor for `userId` (undefined before sign-in). */
export function createMfaDecision(options: MfaPolicyOptions): MfaDecision {
  return async (request, userId) => {
    if (request.clientRequiresMfa) return true;
    if (options.global) {
      if (request.clientId !== ACCOUNT_CLIENT_ID) return true;
      // the exemption is for enrolling a first factor only: with one, a password alone must not
      // reach the page where factors are added and removed
      if (userId !== undefined && (await options.hasSecondFactor(userId))) return true;
    }
    if (requestedMfa(request.params)) return true;
    return userId !== undefined && (await options.userRequires(userId));
  };
}
