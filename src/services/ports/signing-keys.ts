export interface SigningKeyRecord {
  kid: string;
  alg: string;
  publicJwk: Record<string, unknown>;
  /** the sealed (encrypted) private JWK */
  privateJwk: string;
  /** published in the JWKS from then on */
  createdAt: Date;
  /** signs from then on (later than `createdAt` for a key published ahead) */
  activatesAt: Date;
  /** a newer key signs from then on; this one still verifies until `expiresAt` */
  retiredAt: Date | null;
  /** leaves the JWKS then */
  expiresAt: Date | null;
}

export type NewSigningKey = Pick<SigningKeyRecord, 'kid' | 'alg' | 'publicJwk' | 'privateJwk' | 'activatesAt'>;

/** What one rotation writes, decided by the key service and applied in one transaction. */
export interface SigningKeyChanges {
  create: NewSigningKey[];
  /** keys whose retirement (and expiry) is set */
  retire: { kid: string; retiredAt: Date; expiresAt: Date }[];
  /** kids removed at once (pending keys replaced, or keys withdrawn after a compromise) */
  remove: string[];
}

export interface SigningKeyRepository {
  /** keys not yet expired, newest first */
  listUsable(now: Date): Promise<SigningKeyRecord[]>;
  /**
   * Runs `plan` under an exclusive lock (every instance and the CLI take the same one) with the
   * usable keys, and applies the changes it returns in the same transaction.
   */
  change(
    now: Date,
    plan: (usable: SigningKeyRecord[]) => SigningKeyChanges | Promise<SigningKeyChanges>,
  ): Promise<SigningKeyChanges>;
  deleteExpired(now: Date): Promise<number>;
}
