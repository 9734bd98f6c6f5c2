import { decideAccountChange } from './account-changes.ts';
import { ACR, authenticationMethods, type PasskeyFactor } from './authentication-policy.ts';
import type { PendingSignIn } from './pending-signins.ts';

/**
 * The rules of the sign-in flow on plain values: which step an interaction is at, and which
 * one follows a password or a passkey. No I/O here; src/services/signin-flow.ts gathers the
 * facts, applies these rules and keeps what they decide.
 */

/** What the interaction ends with when it signs someone in: `amr` (RFC 8176) and `acr` (OIDC Core §2). */
export interface Login {
  accountId: string;
  amr: string[];
  acr: string;
}

export type PasskeyMode = PendingSignIn['mode'];

/** Where the interaction goes next. */
export type Step =
  /** the login form (password, with the passkey button) */
  | { name: 'login' }
  /**
   * the passkey step: the second factor, or the offer to add a passkey after a password; in the
   * second-factor step `methods` (filled by the flow) says which factors the page offers
   */
  | { name: 'passkey'; mode: PasskeyMode; methods?: SecondFactorMethods }
  /** the consent page, naming who is signed in */
  | { name: 'consent'; accountName: string | undefined }
  /** consent given without asking (a first-party client) or on the consent page */
  | { name: 'grant' }
  /** signed in: the interaction ends with this login */
  | { name: 'finish'; login: Login }
  /** the interaction ends with an OAuth error for the client (RFC 6749 §4.1.2.1) */
  | { name: 'refuse'; error: string; description: string }
  /** a prompt this server has no page for */
  | { name: 'unsupported'; prompt: string };

/** The second factors the second-factor step offers: a code (an authenticator app, a recovery code), a passkey. */
export interface SecondFactorMethods {
  code: boolean;
  passkey: boolean;
}

/** OpenID Connect Unmet Authentication Requirements 1.0: the client learns why, instead of a page that cannot help. */
export const NO_SECOND_FACTOR: Step = {
  name: 'refuse',
  error: 'unmet_authentication_requirements',
  description: 'a second factor is required and the account has none',
};

/** The End-User cancelled, or refused consent. */
export const ABORTED: Step = {
  name: 'refuse',
  error: 'access_denied',
  description: 'End-User aborted interaction',
};

export interface ShowFacts {
  /** oidc-provider's prompt: `login`, `consent`, or another */
  prompt: string;
  /** the passkey step this interaction is waiting for, if any */
  pending: PasskeyMode | undefined;
  /** a signed-in session lacks the second factor this request demands (the interaction policy's MFA reason) */
  stepUp: boolean;
  /** passkeys of the session's account (asked only for a step-up) */
  passkeys: number;
  /** the session's account has a confirmed authenticator app (asked only for a step-up; absent: no) */
  totp?: boolean;
  /** the client is first-party (marked by the admin): no consent screen */
  firstParty: boolean;
}

/** The step an interaction is at when its page is opened. */
export function stepOf(f: ShowFacts): Step {
  if (f.prompt === 'login') {
    if (f.pending) return { name: 'passkey', mode: f.pending };
    if (f.stepUp) return f.passkeys === 0 && !f.totp ? NO_SECOND_FACTOR : { name: 'passkey', mode: 'second-factor' };
    return { name: 'login' };
  }
  if (f.prompt === 'consent') return f.firstParty ? { name: 'grant' } : { name: 'consent', accountName: undefined };
  return { name: 'unsupported', prompt: f.prompt };
}

export interface PasswordFacts {
  accountId: string;
  /** the client, the global policy, the request or the user demands a second factor */
  mfaRequired: boolean;
  passkeys: number;
  /** a confirmed authenticator app (absent: none) */
  totp?: boolean;
  /** the browser can make a passkey (the login page's script says so) */
  passkeyCapable: boolean;
}

/** The login a password alone ends with. */
export const passwordLogin = (accountId: string): Login => ({
  accountId,
  ...authenticationMethods({ password: true }),
});

/** The step after a correct password. */
export function afterPassword(f: PasswordFacts): Step {
  if (f.mfaRequired) return f.passkeys === 0 && !f.totp ? NO_SECOND_FACTOR : { name: 'passkey', mode: 'second-factor' };
  if (f.passkeys === 0 && !f.totp && f.passkeyCapable) return { name: 'passkey', mode: 'offer' };
  return { name: 'finish', login: passwordLogin(f.accountId) };
}

export interface PasskeyFacts {
  /** what the passkey proved */
  proof: PasskeyFactor & { userId: string };
  pending: PendingSignIn | undefined;
  /** whether this request demands a second factor of the passkey's account */
  mfaRequired: boolean;
}

export type PasskeyStep =
  | { ok: true; login: Login; secondFactor: boolean }
  | { ok: false; reason: 'wrong_user' | 'verification_required' };

/** What a verified passkey does: the sign-in itself, or the second factor after a password. */
export function afterPasskey(f: PasskeyFacts): PasskeyStep {
  const secondFactor = f.pending?.mode === 'second-factor';
  if (secondFactor && f.proof.userId !== f.pending?.accountId) return { ok: false, reason: 'wrong_user' };
  const methods = authenticationMethods({ password: secondFactor && f.pending?.password === true, passkey: f.proof });
  // passwordless but not multi-factor (no user verification) where MFA is demanded: say so
  if (methods.acr !== ACR.mfa && f.mfaRequired) return { ok: false, reason: 'verification_required' };
  return { ok: true, login: { accountId: f.proof.userId, ...methods }, secondFactor };
}

/**
 * The offer follows a password alone: it may enrol a first passkey, never one more (a passkey
 * added meanwhile, in another tab, ends it).
 */
export function mayOffer(pending: PendingSignIn | undefined, passkeys: number, now: number): boolean {
  if (pending?.mode !== 'offer') return false;
  return decideAccountChange('add-passkey', {
    secondFactors: passkeys,
    session: { amr: ['pwd'], authTime: 0 },
    stepUpAt: undefined,
    now,
  }).allowed;
}

/**
 * The login a code ends the second-factor step with: `otp` after the password (RFC 8176). A
 * code after no password (a session that signed in with a passkey alone) is not a second factor
 * of anything: the page does not offer it then.
 */
export const codeLogin = (accountId: string): Login => ({
  accountId,
  ...authenticationMethods({ password: true, otp: true }),
});
