/** What decides a sign-in's second step, for one user, read together. */
export interface SecondFactorFacts {
  /** the user's own setting (mfa_settings.required) */
  readonly mfaRequired: boolean;
  readonly passkeys: number;
  /** a confirmed authenticator app */
  readonly totp: boolean;
}

export interface SecondFactorFactsRepository {
  /** One statement for the three facts; a user without any row reads as no second factor. */
  of(userId: string): Promise<SecondFactorFacts>;
}
