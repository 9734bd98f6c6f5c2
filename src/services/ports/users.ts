import type { Stale } from './errors.ts';

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
  /** the language the user last used our pages in (a catalog tag); null: never seen */
  readonly locale: string | null;
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
  locale?: string | null;
}

export type UserChanges = Partial<Omit<NewUserRecord, 'id'>>;

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
  /** @throws UniqueViolation (`email` or `username`) when the name or address is taken */
  create(user: NewUserRecord): Promise<UserRecord>;
  /**
   * With `expected`, only if the row is still that version (its `updated_at`): 'stale' otherwise.
   * @returns undefined when there is no such user
   * @throws UniqueViolation (`email` or `username`) when the new name or address is taken
   */
  update(id: string, changes: UserChanges, expected?: Date): Promise<UserRecord | Stale | undefined>;
  /** @returns undefined when there was no such user, 'stale' when it is no longer the `expected` version */
  delete(id: string, expected?: Date): Promise<true | Stale | undefined>;
  /** oldest first; `after` is the `next` of the previous page */
  list(options?: { limit?: number; after?: string; filter?: UserFilter }): Promise<UserPage>;
  recordSignIn(id: string, at?: Date): Promise<void>;
  /**
   * Ends the user's access tokens issued before `at` (moves `tokensValidAfter` forward, never
   * back). Not a change to the user as the admin API shows it: the version (`updatedAt`) stays.
   */
  endTokensBefore(id: string, at: Date): Promise<void>;
  /** Stores the user's language. Not a change to the user as the admin API shows it: the version (`updatedAt`) stays. */
  setLocale(id: string, locale: string): Promise<void>;
}
