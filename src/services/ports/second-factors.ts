/** A user's authenticator app as the services see it: the secret still sealed. */
export interface TotpRecord {
  readonly userId: string;
  /** sealed with the TOTP key (src/services/secrets.ts `seal`, context `totp:<userId>`) */
  readonly secretEnc: string;
  /** set once the user confirmed a code: only then it counts */
  readonly confirmedAt: Date | null;
  /** the newest time step accepted; -1 before the first */
  readonly lastStep: number;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
}

export interface SecondFactorRepository {
  findTotp(userId: string): Promise<TotpRecord | undefined>;
  /**
   * Starts an enrolment: stores an unconfirmed secret, replacing an unconfirmed one.
   * @returns false when the user has a confirmed one (it is never replaced by this)
   */
  startTotp(userId: string, secretEnc: string): Promise<boolean>;
  /**
   * Confirms the unconfirmed secret `secretEnc` with the code of `step`, and stores `codeHashes` as
   * the user's recovery codes (replacing any) in the same transaction.
   * @returns 'stale' when the enrolment is no longer that one (confirmed or restarted meanwhile)
   */
  confirmTotp(userId: string, secretEnc: string, step: number, codeHashes: readonly string[]): Promise<true | 'stale'>;
  /**
   * Uses the time step `step` of the confirmed secret: only if it is newer than the last used
   * (`last_step < step`, one conditional UPDATE, so two instances never both accept one code).
   * @returns 'stale' when that step (or a later one) was used already, or there is no confirmed secret
   */
  useTotpStep(userId: string, step: number, at: Date): Promise<true | 'stale'>;
  /** Removes the authenticator app (confirmed or not) and every recovery code. @returns what was removed */
  removeAll(userId: string): Promise<{ totp: boolean; recoveryCodes: number }>;
  /** Replaces the user's recovery codes. */
  replaceRecoveryCodes(userId: string, codeHashes: readonly string[]): Promise<void>;
  /**
   * Uses one recovery code: marks it used if it is the user's and unused (one conditional UPDATE).
   * @returns the unused codes left, or undefined when no unused code has this hash
   */
  useRecoveryCode(userId: string, codeHash: string, at: Date): Promise<number | undefined>;
  /** the user's unused recovery codes */
  countRecoveryCodes(userId: string): Promise<number>;
}
