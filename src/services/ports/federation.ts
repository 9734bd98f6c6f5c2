import type { Stale } from './errors.ts';

/** An external issuer trusted to authenticate clients with its JWTs (workload identity). */
export interface FederatedIssuerRecord {
  id: string;
  issuer: string;
  jwksUri: string | null;
  jwks: { keys: Record<string, unknown>[] } | null;
  /** PEM certificates trusted for `jwksUri` besides the system's (a cluster's own CA) */
  jwksCa: string | null;
  audience: string;
  /** `jwksUri` may be on a private or loopback address (an admin's explicit choice) */
  allowPrivateNetwork: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type FederatedIssuerWrite = Omit<FederatedIssuerRecord, 'createdAt' | 'updatedAt'>;

export interface FederatedSubject {
  issuer: string;
  subject: string;
}

export interface FederationRepository {
  findIssuer(id: string): Promise<FederatedIssuerRecord | undefined>;
  findIssuerByUrl(issuer: string): Promise<FederatedIssuerRecord | undefined>;
  listIssuers(options: { after?: string | undefined; limit: number }): Promise<FederatedIssuerRecord[]>;
  /** @throws UniqueViolation (`issuer`) when that issuer is registered already */
  createIssuer(issuer: FederatedIssuerWrite): Promise<FederatedIssuerRecord>;
  /** @throws UniqueViolation (`issuer`) */
  updateIssuer(
    id: string,
    changes: Partial<Omit<FederatedIssuerWrite, 'id'>>,
    expected?: Date,
  ): Promise<FederatedIssuerRecord | Stale | undefined>;
  /** the subjects bound to its issuer go with it */
  deleteIssuer(id: string): Promise<true | undefined>;
  /** the client bound to (issuer, subject) */
  clientOf(issuer: string, subject: string): Promise<string | undefined>;
  subjectsOf(clientId: string): Promise<FederatedSubject[]>;
  /**
   * Makes `subjects` the client's bindings, in one transaction.
   * @throws UniqueViolation (`subject`) when one is bound to another client
   */
  bind(clientId: string, subjects: readonly FederatedSubject[]): Promise<void>;
}
