import type { Stale } from './errors.ts';

export interface ResourceRecord {
  id: string;
  identifier: string;
  name: string;
  scopes: string[];
  accessTokenTtl: number;
  rolesClaim: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type ResourceWrite = Omit<ResourceRecord, 'createdAt' | 'updatedAt'>;

export interface ResourceRepository {
  find(id: string): Promise<ResourceRecord | undefined>;
  findByIdentifier(identifier: string): Promise<ResourceRecord | undefined>;
  list(options: {
    after?: string | undefined;
    limit: number;
    identifierPrefix?: string | undefined;
  }): Promise<ResourceRecord[]>;
  /**
   * References to the identifier left over from an earlier API of that name are removed first:
   * a new API starts with no grants.
   * @throws UniqueViolation (`identifier` or `id`) when the identifier or id is taken
   */
  create(resource: ResourceWrite): Promise<ResourceRecord>;
  /**
   * With `expected`, only if the row is still that version ('stale' otherwise). Scopes it no
   * longer lists are removed from roles' permissions and clients' allowedResources, in the same
   * transaction.
   */
  update(
    id: string,
    changes: Partial<Pick<ResourceWrite, 'name' | 'scopes' | 'accessTokenTtl' | 'rolesClaim'>>,
    expected?: Date,
  ): Promise<ResourceRecord | Stale | undefined>;
  /** removes the API, and every role permission and allowedResources entry naming it, in one transaction */
  delete(id: string, expected?: Date): Promise<ResourceRecord | Stale | undefined>;
  /** the longest `accessTokenTtl` of any API (0 with none): how long a signing key must stay published */
  longestAccessTokenTtl(): Promise<number>;
}
