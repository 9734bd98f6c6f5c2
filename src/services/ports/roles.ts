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
  /** @returns false when the name is taken */
  create(role: RoleWrite): Promise<RoleRecord | false>;
  /**
   * @returns false when the new name is taken, undefined when there is no such role, 'stale' when
   * it is no longer the `expected` version (its `updated_at`)
   */
  update(
    id: string,
    changes: Partial<Omit<RoleWrite, 'id'>>,
    expected?: Date,
  ): Promise<RoleRecord | false | 'stale' | undefined>;
  delete(id: string, expected?: Date): Promise<boolean | 'stale'>;
  ofUser(userId: string): Promise<RoleRecord[]>;
  ofClient(clientId: string): Promise<RoleRecord[]>;
  setForUser(userId: string, roleIds: readonly string[]): Promise<void>;
  setForClient(clientId: string, roleIds: readonly string[]): Promise<void>;
}
