import { createHash, randomBytes } from 'node:crypto';
import type { AccountTokenPurpose, AccountTokenRecord, AccountTokenRepository } from './ports/account-tokens.ts';

/** How long a mailed link works: a reset link briefly (OWASP Forgot Password Cheat Sheet), a verification link a day. */
export const TOKEN_TTL_SECONDS: Readonly<Record<AccountTokenPurpose, number>> = {
  password_reset: 15 * 60,
  email_verification: 24 * 3600,
  signup: 24 * 3600,
};

/** 256 bits from the CSPRNG, base64url without padding */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A new token value: 256 random bits, 43 base64url characters. */
export const newTokenValue = (): string => randomBytes(32).toString('base64url');

/**
 * What is stored of a token: its SHA-256. The value has 256 bits of entropy, so a fast hash
 * resists guessing as well as a slow one would, and a copy of the database opens no account.
 */
export const hashToken = (value: string): string => createHash('sha256').update(value, 'utf8').digest('base64url');

/**
 * What a user's link stands on: the password (its stored hash) and the address it was mailed to.
 * A reset or address-change link records this when issued and works only while it still holds,
 * so a password changed by any path (a reset, the admin API, the account page, the CLI) or a
 * changed address ends every link issued before: an old mailbox, or whoever asked for a change
 * with a password the owner has since replaced, keeps nothing. A digest, not the hash itself:
 * the row holds no copy of the password hash. A rehash with new argon2 parameters at sign-in
 * also ends the links (rare, and a new link is one request away).
 */
export function credentialStamp(user: { passwordHash: string | null; email: string | null }): string {
  return createHash('sha256')
    .update(`${user.passwordHash ?? ''}\0${user.email ?? ''}`, 'utf8')
    .digest('base64url')
    .slice(0, 22);
}

/** The token value a link or form carries, when it has the shape of one; anything else is no token. */
export function parseToken(value: unknown): string | undefined {
  return typeof value === 'string' && TOKEN_PATTERN.test(value) ? value : undefined;
}

export interface AccountTokens {
  /** a new single-use token for `purpose`; the value is returned once (for the mail) and never stored */
  issue(
    purpose: AccountTokenPurpose,
    fields: { userId: string | null; email: string | null; data?: Record<string, unknown> | undefined },
    now?: Date,
  ): Promise<{ value: string; expiresAt: Date }>;
  /** the token, when `value` is a live token for `purpose` (not used up) */
  peek(purpose: AccountTokenPurpose, value: unknown): Promise<AccountTokenRecord | undefined>;
  /** uses the token up; undefined when it is not a live token for `purpose` (used, expired, unknown) */
  consume(purpose: AccountTokenPurpose, value: unknown): Promise<AccountTokenRecord | undefined>;
  /** uses up every live token of the user for `purpose` */
  revokeAll(userId: string, purpose: AccountTokenPurpose): Promise<void>;
}

export function createAccountTokens(repo: AccountTokenRepository): AccountTokens {
  return {
    async issue(purpose, fields, now = new Date()) {
      const value = newTokenValue();
      const expiresAt = new Date(now.getTime() + TOKEN_TTL_SECONDS[purpose] * 1000);
      await repo.insert({ tokenHash: hashToken(value), purpose, ...fields, expiresAt });
      return { value, expiresAt };
    },
    async peek(purpose, value) {
      const token = parseToken(value);
      return token === undefined ? undefined : repo.find(hashToken(token), purpose);
    },
    async consume(purpose, value) {
      const token = parseToken(value);
      return token === undefined ? undefined : repo.consume(hashToken(token), purpose);
    },
    async revokeAll(userId, purpose) {
      await repo.consumeAllOf(userId, purpose);
    },
  };
}
