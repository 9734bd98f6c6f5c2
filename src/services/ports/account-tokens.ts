export type AccountTokenPurpose = 'password_reset' | 'email_verification' | 'signup';

/** A live single-use token, as stored: only the SHA-256 of the value. */
export interface AccountTokenRecord {
  readonly purpose: AccountTokenPurpose;
  readonly userId: string | null;
  readonly email: string | null;
  readonly data: Record<string, unknown>;
  readonly expiresAt: Date;
}

export interface NewAccountToken {
  tokenHash: string;
  purpose: AccountTokenPurpose;
  userId: string | null;
  email: string | null;
  data?: Record<string, unknown> | undefined;
  expiresAt: Date;
}

export interface AccountTokenRepository {
  insert(token: NewAccountToken): Promise<void>;
  /** the token when it is unused and unexpired; undefined otherwise */
  find(tokenHash: string, purpose: AccountTokenPurpose): Promise<AccountTokenRecord | undefined>;
  /**
   * Uses the token: one conditional statement, so of two requests (on any instances) with the same
   * token one wins. @returns the token when this call used it, undefined when it was used, expired or unknown
   */
  consume(tokenHash: string, purpose: AccountTokenPurpose): Promise<AccountTokenRecord | undefined>;
  /** uses every live token of the user for `purpose` (a reset done: the other links die with it) */
  consumeAllOf(userId: string, purpose: AccountTokenPurpose): Promise<number>;
  purgeExpired(now: Date, batch: number): Promise<number>;
}
