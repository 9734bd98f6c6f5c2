export type UserStatus = 'active' | 'disabled';

/** A row of `users` as the services see it. */
export interface UserRecord {
  readonly id: string;
  readonly username: string;
  readonly usernameNormalized: string;
  readonly email: string | null;
  readonly emailVerified: boolean;
  readonly name: string | null;
  readonly givenName: string | null;
  readonly familyName: string | null;
  readonly passwordHash: string | null;
  readonly status: UserStatus;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly lastSignInAt: Date | null;
  /** access tokens issued before this instant are no longer active; null: none ended yet */
  readonly tokensValidAfter: Date | null;
}

/** What `create` stores. Normalizing (`usernameNormalized`, lower-cased `email`) is the caller's rule. */
export interface NewUserRecord {
  id: string;
  username: string;
  usernameNormalized: string;
  email?: string | null;
  emailVerified?: boolean;
  name?: string | null;
  givenName?: string | null;
  familyName?: string | null;
  passwordHash?: string | null;
  status?: UserStatus;
  tokensValidAfter?: Date | null;
}

export type UserChanges = Partial<Omit<NewUserRecord, 'id'>>;

/** A unique column that already holds the value. Callers answer 409 with it. */
export type UserConflict = 'username_taken' | 'email_taken';

export type UserWriteResult =
  | { ok: true; user: UserRecord }
  | { ok: false; error: UserConflict }
  | { ok: false; error: 'not_found' }
  /** the row is no longer the version the write was conditional on */
  | { ok: false; error: 'stale' };

/** List filters: `usernamePrefix` on the normalized name, `email` exact (normalized), `status`. */
export interface UserFilter {
  status?: 'active' | 'disabled' | undefined;
  usernamePrefix?: string | undefined;
  email?: string | undefined;
}

export interface UserPage {
  users: UserRecord[];
  /** pass as `after` to get the next page; undefined on the last page */
  next: string | undefined;
}

export interface UserRepository {
  findById(id: string): Promise<UserRecord | undefined>;
  findByUsername(usernameNormalized: string): Promise<UserRecord | undefined>;
  findByEmail(email: string): Promise<UserRecord | undefined>;
  /**
   * The user a sign-in name designates: the one whose username matches, else the one whose
   * email matches. One query, so both cases cost the same.
   */
  findByLogin(usernameNormalized: string, email: string): Promise<UserRecord | undefined>;
  create(user: NewUserRecord): Promise<UserWriteResult>;
  /** with `expected`, only if the row is still that version (its `updated_at`) */
  update(id: string, changes: UserChanges, expected?: Date): Promise<UserWriteResult>;
  /** @returns false when there was no such user, 'stale' when it is no longer the `expected` version */
  delete(id: string, expected?: Date): Promise<boolean | 'stale'>;
  /** oldest first; `after` is the `next` of the previous page */
  list(options?: { limit?: number; after?: string; filter?: UserFilter }): Promise<UserPage>;
  recordSignIn(id: string, at?: Date): Promise<void>;
  /**
   * Ends the user's access tokens issued before `at` (moves `tokensValidAfter` forward, never
   * back). Not a change to the user as the admin API shows it: the version (`updatedAt`) stays.
   */
  endTokensBefore(id: string, at: Date): Promise<void>;
}
