/** The four collections the admin API manages, as its paths name them. */
export type Noun = 'client' | 'resource' | 'role' | 'user';

export const COLLECTIONS: Record<Noun, string> = {
  client: 'clients',
  resource: 'resources',
  role: 'roles',
  user: 'users',
};

export type Json = Record<string, unknown>;

export interface Page {
  data: Json[];
  next?: string | undefined;
}

export interface ListQuery {
  limit: number;
  after?: string | undefined;
  /** the admin API's filters for this collection, by their query names */
  filters: Record<string, string>;
}

/**
 * What a command needs from the identity provider, in the admin API's shapes (its request
 * bodies in, its response bodies out), whether it runs on the database (direct.ts) or through
 * a running server's admin API (remote.ts).
 */
export interface AdminBackend {
  list(noun: Noun, query: ListQuery): Promise<Page>;
  show(noun: Noun, id: string): Promise<Json>;
  create(noun: Noun, body: Json): Promise<Json>;
  update(noun: Noun, id: string, body: Json): Promise<Json>;
  delete(noun: Noun, id: string): Promise<void>;
  unlock(userId: string): Promise<void>;
  rotateSecret(clientId: string): Promise<Json>;
  /** a client's secrets, metadata only (the admin API's `GET /admin/clients/{id}/secrets`) */
  listSecrets(clientId: string): Promise<Page>;
  /** a new secret beside the others; the response holds its value this once */
  addSecret(clientId: string, body: Json): Promise<Json>;
  removeSecret(clientId: string, secretId: string): Promise<void>;
  rotateKeys(): Promise<{ rotated: string[] }>;
  listKeys(): Promise<Page>;
  close(): Promise<void>;
}
