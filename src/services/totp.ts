import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * TOTP (RFC 6238) as authenticator apps implement it: HMAC-SHA-1, 6 digits, 30-second steps
 * (the values of RFC 6238 §4 and of the `otpauth://` URI every app reads), over HOTP (RFC 4226).
 * Plain functions on plain values; the rules about reuse and storage are in ./second-factors.ts.
 */

const TOTP_DIGITS = 6;
const TOTP_PERIOD_SECONDS = 30;
/** Steps accepted either side of now (RFC 6238 §5.2: one step of clock drift or typing time) */
const TOTP_WINDOW = 1;
/** RFC 4226 §4 R6: a shared secret of at least 128 bits, 160 recommended (the length of SHA-1's output) */
const SECRET_BYTES = 20;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32 without padding: what `otpauth://` URIs and people typing secrets use. */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** @throws on a character outside the base32 alphabet (spaces, `=` padding and case are forgiven) */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const index = BASE32.indexOf(ch);
    if (index < 0) throw new Error('not base32');
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** A new shared secret: 160 bits from the CSPRNG. */
export const generateTotpSecret = (): Buffer => randomBytes(SECRET_BYTES);

/** HOTP (RFC 4226 §5.3): HMAC over the 8-byte counter, dynamic truncation, `digits` decimal digits. */
export function hotp(secret: Uint8Array, counter: number, digits = TOTP_DIGITS, algorithm = 'sha1'): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, secret).update(message).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The time step (RFC 6238 §4.2: T = floor((now - T0) / X), T0 = 0) of an instant in epoch seconds. */
export const totpStep = (epochSeconds: number, period = TOTP_PERIOD_SECONDS): number =>
  Math.floor(epochSeconds / period);

/** The code of the step `epochSeconds` falls in. */
export const totpCode = (secret: Uint8Array, epochSeconds: number, digits = TOTP_DIGITS, algorithm = 'sha1') =>
  hotp(secret, totpStep(epochSeconds), digits, algorithm);

/** Whether `code` looks like a TOTP code: exactly six ASCII digits. */
export const isTotpCode = (code: string): boolean => /^[0-9]{6}$/.test(code);

/**
 * The step whose code `code` is, within `TOTP_WINDOW` steps of now and after `lastStep` (a step
 * already used is never accepted again, RFC 6238 §5.2), or undefined. The newest matching step
 * wins, so a code is compared against each candidate in constant time.
 */
export function matchTotp(
  secret: Uint8Array,
  code: string,
  epochSeconds: number,
  lastStep: number,
): number | undefined {
  if (!isTotpCode(code)) return undefined;
  const now = totpStep(epochSeconds);
  const given = Buffer.from(code);
  let found: number | undefined;
  for (let step = now - TOTP_WINDOW; step <= now + TOTP_WINDOW; step++) {
    if (step <= lastStep || step < 0) continue;
    if (timingSafeEqual(Buffer.from(hotp(secret, step)), given)) found = step;
  }
  return found;
}

/**
 * The `otpauth://` URI an authenticator app reads from the QR code (Google Authenticator's Key
 * Uri Format): the label names the service and the account, `issuer` repeats the service.
 */
export function otpauthUri(secret: Uint8Array, issuer: string, account: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({
    secret: base32Encode(secret),
    issuer,
    algorithm: 'SHA1',
    digits: String(TOTP_DIGITS),
    period: String(TOTP_PERIOD_SECONDS),
  });
  return `otpauth://totp/${label}?${query.toString().replace(/\+/g, '%20')}`;
}
