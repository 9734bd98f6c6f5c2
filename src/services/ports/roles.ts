import type { Stale } from './errors.ts';

export interface Permission {
  resource: string;
  scope: string;
}

export interface RoleRecord {
  id: string;
  name: string;
  description: string | null;
  permissions: Permission[];
  createdAt: Date;
  updatedAt: Date;
}

export type RoleWrite = Omit<RoleRecord, 'createdAt' | 'updatedAt'>;

export interface RoleRepository {
  find(id: string): Promise<RoleRecord | undefined>;
  findByNames(names: readonly string[]): Promise<RoleRecord[]>;
  list(options: { after?: string | undefined; limit: number; name?: string | undefined }): Promise<RoleRecord[]>;
  /** @throws UniqueViolation (`name`) when the name is taken */
  create(role: RoleWrite): Promise<RoleRecord>;
  /**
   * @returns undefined when there is no such role, 'stale' when it is no longer the `expected`
   * version (its `updated_at`)
   * @throws UniqueViolation (`name`) when the new name is taken
   */
  update(id: string, changes: Partial<Omit<RoleWrite, 'id'>>, expected?: Date): Promise<RoleRecord | Stale | undefined>;
  /** @returns undefined when there is no such role, 'stale' when it is no longer the `expected` version */
  delete(id: string, expected?: Date): Promise<true | Stale | undefined>;
  ofUser(userId: string): Promise<RoleRecord[]>;
  ofClient(clientId: string): Promise<RoleRecord[]>;
  setForUser(userId: string, roleIds: readonly string[]): Promise<void>;
  setForClient(clientId: string, roleIds: readonly string[]): Promise<void>;
}
