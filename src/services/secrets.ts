import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';

/**
 * Keys derived from SECRETS_KEY, one per purpose (HKDF-SHA256 with a distinct `info`),
 * so that no key ever serves two purposes.
 */
export interface DerivedKeys {
  /** AES-256-GCM key for private signing keys at rest */
  readonly keyEncryption: Buffer;
  /** HMAC-SHA256 key for client secret hashes */
  /** a KeyObject made once: createHmac with raw bytes would import the key on every token request */
  readonly clientSecretHmac: KeyObject;
  /** cookie signing keys for oidc-provider and the outer Koa app */
  readonly cookieKeys: readonly string[];
  /** HMAC key binding CSRF tokens to interactions */
  readonly csrf: Buffer;
  /** RFC 9449 §8 DPoP nonces: the same on every instance, so a nonce from one is good at another */
  readonly dpopNonce: Buffer;
  /** HMAC key of the digest the event log keeps of sign-in names that match no account */
  readonly eventDigest: Buffer;
  /** AES-256-GCM key for authenticator-app (TOTP) secrets at rest */
  readonly totpEncryption: Buffer;
  /** HMAC-SHA256 key for recovery code hashes */
  readonly recoveryCodeHmac: KeyObject;
  /** AES-256-GCM key of the admin console's session cookie (it holds an admin API access token) */
  readonly consoleSession: Buffer;
  /** the admin console client's secret: the same on every instance, so any of them redeems its codes */
  readonly consoleClientSecret: string;
  /** AES-256-GCM key for outbox payloads at rest (mails carry links with tokens) */
  readonly outboxSeal: Buffer;
}

const derive = (secret: string, info: string) =>
  Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), `idp/${info}/v1`, 32));

export function deriveKeys(secretsKey: string): DerivedKeys {
  return Object.freeze({
    keyEncryption: derive(secretsKey, 'signing-key-encryption'),
    clientSecretHmac: createSecretKey(derive(secretsKey, 'client-secret')),
    cookieKeys: Object.freeze([derive(secretsKey, 'cookies').toString('base64url')]),
    csrf: derive(secretsKey, 'csrf'),
    dpopNonce: derive(secretsKey, 'dpop-nonce'),
    eventDigest: derive(secretsKey, 'event-login-digest'),
    totpEncryption: derive(secretsKey, 'totp-secret-encryption'),
    recoveryCodeHmac: createSecretKey(derive(secretsKey, 'recovery-code')),
    consoleSession: derive(secretsKey, 'console-session'),
    consoleClientSecret: derive(secretsKey, 'console-client-secret').toString('base64url'),
    outboxSeal: derive(secretsKey, 'outbox-seal'),
  });
}

const SEALED_PREFIX = 'v1.';

/** AES-256-GCM; `context` (e.g. the key id) is authenticated so a sealed value cannot be moved to another row. */
export function seal(plaintext: string, key: Buffer, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return SEALED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** @throws when the value was not sealed with this key and context (a changed SECRETS_KEY, tampering) */
export function unseal(sealed: string, key: Buffer, context: string): string {
  if (!sealed.startsWith(SEALED_PREFIX)) throw new Error('unknown sealed value format');
  const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}

/** 256 bits from the CSPRNG, base64url: 43 characters. */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

const HASH_PREFIX = 'hmac-sha256$';

export const isHashedSecret = (value: string) => value.startsWith(HASH_PREFIX);

/**
 * Client secrets are 256-bit random values made by the server, so a fast keyed hash is as
 * strong as a password hash here and costs microseconds instead of ~25 ms per token request.
 */
export function hashClientSecret(secret: string, key: KeyObject): string {
  return HASH_PREFIX + createHmac('sha256', key).update(secret, 'utf8').digest('base64url');
}

/** The 32 bytes of a stored hash; undefined for anything that is not one. */
export function secretHashBytes(stored: string): Buffer | undefined {
  if (!stored.startsWith(HASH_PREFIX)) return undefined;
  const bytes = Buffer.from(stored.slice(HASH_PREFIX.length), 'base64url');
  return bytes.length === 32 ? bytes : undefined;
}
