import type { Stale } from './errors.ts';

export interface ClientRecord {
  id: string;
  name: string | null;
  metadata: Record<string, unknown>;
  secretHash: string | null;
  allowedResources: Record<string, string[]>;
  firstParty: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type ClientWrite = Omit<ClientRecord, 'createdAt' | 'updatedAt'>;

export interface ClientRepository {
  find(id: string): Promise<ClientRecord | undefined>;
  list(options: {
    after?: string | undefined;
    limit: number;
    namePrefix?: string | undefined;
  }): Promise<ClientRecord[]>;
  /**
   * A `secretHash` becomes the client's first secret (in `client_secrets`, named `secretName`).
   * @throws UniqueViolation (`id`) when the id is taken
   */
  create(client: ClientWrite, options?: { secretName?: string }): Promise<ClientRecord>;
  /**
   * With `expected`, only if the row is still that version (its `updated_at`): 'stale' when it
   * changed meanwhile. Without, unconditionally. With `endRegistration`, the client's RFC 7592
   * registration access tokens end in the same transaction as the change. A `secretHash` in
   * `changes` replaces all the client's secrets with that one (named `secretName`); leave it out
   * to keep them.
   */
  update(
    id: string,
    changes: Partial<Omit<ClientWrite, 'id'>>,
    expected?: Date,
    options?: { endRegistration?: boolean; secretName?: string },
  ): Promise<ClientRecord | Stale | undefined>;
  /**
   * @returns undefined when there is no such client, 'stale' when it is no longer the `expected` version.
   * Its registration access tokens go with it.
   */
  delete(id: string, expected?: Date): Promise<true | Stale | undefined>;
}
