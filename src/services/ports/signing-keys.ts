export interface SigningKeyRecord {
  kid: string;
  alg: string;
  publicJwk: Record<string, unknown>;
  /** the sealed (encrypted) private JWK */
  privateJwk: string;
  createdAt: Date;
  retiredAt: Date | null;
  expiresAt: Date | null;
}

export type NewSigningKey = Pick<SigningKeyRecord, 'kid' | 'alg' | 'publicJwk' | 'privateJwk'>;

export interface SigningKeyRepository {
  /** keys not yet expired, newest first */
  listUsable(now: Date): Promise<SigningKeyRecord[]>;
  /**
   * Runs `decide` under an exclusive lock with the usable keys; the keys it returns are inserted and
   * every older usable key of the same algorithm is retired (kept until `expiresAt`).
   */
  replaceCurrent(
    now: Date,
    retainFor: number,
    decide: (usable: SigningKeyRecord[]) => NewSigningKey[] | Promise<NewSigningKey[]>,
  ): Promise<NewSigningKey[]>;
  deleteExpired(now: Date): Promise<number>;
}
