import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { Csrf } from './middleware/csrf.ts';
import { readJsonBody } from './middleware/json-body.ts';

const b64url = z
  .string()
  .max(16_384)
  .regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');

// The shapes @simplewebauthn/browser sends (WebAuthn §5.1 toJSON); the library checks the contents.
const Registration = z.object({
  id: b64url.min(1),
  rawId: b64url.min(1),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url,
    attestationObject: b64url,
    transports: z.array(z.string().max(32)).max(10).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});

const Authentication = z.object({
  id: b64url.min(1),
  rawId: b64url.min(1),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url,
    authenticatorData: b64url,
    signature: b64url,
    userHandle: b64url.optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});

const Body = z.object({
  csrf: z.string().max(128),
  response: z.unknown().optional(),
  name: z.string().max(200).optional(),
});

/** Reads `{ csrf, response?, name? }` and checks the CSRF token against `binding`; throws a 4xx AppError. */
export async function readCeremonyBody(ctx: Context, csrf: Csrf, binding: string) {
  const parsed = Body.safeParse(await readJsonBody(ctx, 32 * 1024));
  if (!parsed.success) throw new AppError('invalid_request', 400, 'expected { csrf, response }');
  if (!csrf.verify(binding, parsed.data.csrf)) {
    throw new AppError('precondition_failed', 403, 'this page has expired: reload it and try again');
  }
  return parsed.data;
}

export function registrationResponse(value: unknown): RegistrationResponseJSON {
  const parsed = Registration.safeParse(value);
  if (!parsed.success) throw new AppError('invalid_request', 400, 'response: not a WebAuthn registration response');
  return parsed.data as RegistrationResponseJSON;
}

export function authenticationResponse(value: unknown): AuthenticationResponseJSON {
  const parsed = Authentication.safeParse(value);
  if (!parsed.success) throw new AppError('invalid_request', 400, 'response: not a WebAuthn authentication response');
  return parsed.data as AuthenticationResponseJSON;
}

/** Words for the page; the reason code goes along for scripts and tests. */
const MESSAGES: Record<string, string> = {
  unknown_challenge: 'This attempt has expired. Try again.',
  challenge_used: 'This attempt was already used. Try again.',
  wrong_ceremony: 'This attempt does not belong here. Try again.',
  wrong_binding: 'This attempt belongs to another page. Try again.',
  unknown_credential: 'This passkey is not registered here.',
  wrong_user: 'This passkey belongs to another account.',
  user_disabled: 'This passkey could not be used.',
  counter_regression: 'This passkey could not be used. Contact your administrator.',
  already_registered: 'This passkey is already registered.',
  verification_failed: 'The passkey could not be verified. Try again.',
  verification_required: 'This application needs a passkey that checks your PIN or biometrics, or your password first.',
  step_up_required: 'First confirm it is you with one of the passkeys you already have.',
  no_second_factor: 'Add a passkey first.',
};

/** A JSON error for the page script: 400 with a stable code. */
export function ceremonyFailed(ctx: Context, reason: string, status = 400) {
  ctx.status = status;
  ctx.set('cache-control', 'no-store');
  ctx.body = { error: reason, error_description: MESSAGES[reason] ?? 'The passkey could not be used.' };
}

/** Runs a JSON handler, turning an AppError into its JSON answer (these routes are outside /admin's handler). */
export async function jsonErrors(ctx: Context, run: () => Promise<void>) {
  try {
    await run();
  } catch (err) {
    if (!(err instanceof AppError) || !err.expose) throw err;
    ctx.status = err.status;
    ctx.set('cache-control', 'no-store');
    ctx.body = { error: err.code, error_description: err.message };
  }
}
