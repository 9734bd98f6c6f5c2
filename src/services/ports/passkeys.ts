/** A stored WebAuthn credential as the services see it. */
export interface PasskeyRecord {
  readonly id: string;
  readonly userId: string;
  /** base64url, as the authenticator reports it */
  readonly credentialId: string;
  readonly publicKey: Uint8Array;
  readonly counter: number;
  readonly transports: readonly string[];
  readonly backupEligible: boolean;
  readonly backedUp: boolean;
  readonly aaguid: string;
  readonly name: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
}

export type NewPasskeyRecord = Omit<PasskeyRecord, 'createdAt' | 'lastUsedAt'>;

export interface PasskeyRepository {
  listByUser(userId: string): Promise<PasskeyRecord[]>;
  findByCredentialId(credentialId: string): Promise<PasskeyRecord | undefined>;
  /** @returns false when the credential id is already registered (to anyone) */
  create(passkey: NewPasskeyRecord): Promise<boolean>;
  rename(userId: string, id: string, name: string): Promise<boolean>;
  /** Removes one of the user's passkeys; the last one also clears their second-factor setting. */
  remove(userId: string, id: string): Promise<{ removed: PasskeyRecord | undefined; remaining: number }>;
  /**
   * Records a successful use. Only moves the counter forward (`counter < new`, or both zero), so
   * two racing sign-ins with one response cannot both pass. @returns false when another won
   */
  recordUse(id: string, previous: number, next: { counter: number; backedUp: boolean; at: Date }): Promise<boolean>;
  mfaRequired(userId: string): Promise<boolean>;
  setMfaRequired(userId: string, required: boolean): Promise<void>;
}
