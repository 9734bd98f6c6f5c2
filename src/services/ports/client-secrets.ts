/** One of a client's secrets: only its keyed hash is stored (see services/secrets.ts). */
export interface ClientSecretRecord {
  id: string;
  clientId: string;
  name: string;
  secretHash: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

export interface ClientSecretRepository {
  /** every secret of the client, expired ones included, oldest first */
  list(clientId: string): Promise<ClientSecretRecord[]>;
  /** the secrets that authenticate at `now`: not expired */
  listLive(clientId: string, now: Date): Promise<ClientSecretRecord[]>;
  /**
   * Adds a secret unless the client already has `max` live ones (checked and written under a
   * lock on the client's row, so concurrent adds cannot pass the cap together). Like `remove`,
   * it ends the client's RFC 7592 registration access tokens: an admin manages it from then on.
   * @returns undefined when there is no such client, 'full' at the cap
   */
  add(
    secret: Omit<ClientSecretRecord, 'createdAt' | 'lastUsedAt'>,
    max: number,
    now: Date,
  ): Promise<ClientSecretRecord | 'full' | undefined>;
  /** @returns undefined when the client has no such secret */
  remove(clientId: string, id: string): Promise<true | undefined>;
  /** marks these secrets used at `at` (one statement for a batch) */
  touch(ids: readonly string[], at: Date): Promise<void>;
}
