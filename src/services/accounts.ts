import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError, conflict, invalidField, notFound, stale } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { type CacheBus, followTopic, TtlCache } from './cache.ts';
import type { PasswordService } from './passwords.ts';
import { unlessTaken } from './ports/errors.ts';
import type { OidcPayloadRepository } from './ports/oidc-payloads.ts';
import type { UserChanges, UserPage, UserRecord, UserRepository } from './ports/users.ts';
import type { SecurityEventInput } from './security-events.ts';

/** Usernames compare case-insensitively and by compatibility form: "Ａlice" and "alice" are one name. */
export const normalizeUsername = (username: string): string => username.normalize('NFKC').toLowerCase();
const normalizeEmail = (email: string): string => email.trim().toLowerCase();

const optionalText = (max: number) => z.string().trim().min(1).max(max).nullish();

const Username = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  // no control characters or whitespace inside: names are typed on sign-in pages and shown in logs
  .regex(/^[^\p{C}\s]+$/u, 'must not contain spaces or control characters')
  // an @ would let a username shadow another user's email address at sign-in
  .refine((v) => !v.includes('@'), 'must not contain @ (sign in by email works without it)');

export const RegisterInput = z.strictObject({
  username: Username,
  email: z.email('must be an email address').max(254).nullish(),
  emailVerified: z.boolean().optional(),
  password: z.string().nullish(),
  name: optionalText(200),
  givenName: optionalText(200),
  familyName: optionalText(200),
  status: z.enum(['active', 'disabled']).optional(),
});
export type RegisterInput = z.input<typeof RegisterInput>;

export const UpdateInput = RegisterInput.partial();
export type UpdateInput = z.input<typeof UpdateInput>;

/** A user as the outside sees it: never the password hash. */
export interface PublicUser {
  id: string;
  username: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  status: 'active' | 'disabled';
  hasPassword: boolean;
  createdAt: Date;
  updatedAt: Date;
  lastSignInAt: Date | null;
  /** the language the user last used the pages in, for mails; null: never seen */
  locale: string | null;
}

const toPublicUser = ({
  passwordHash,
  usernameNormalized: _,
  tokensValidAfter: __,
  ...user
}: UserRecord): PublicUser => ({
  ...user,
  hasPassword: passwordHash !== null,
});

export type AuthenticationResult =
  | { ok: true; user: PublicUser }
  /** the caller shows the same words for both reasons */
  | { ok: false; reason: 'invalid_credentials' | 'disabled' };

/** Who is asking, for the log. */
export interface SignInContext {
  ip?: string;
  clientId?: string;
}

/** oidc-provider's Account: `findAccount` in the provider configuration returns this. */
export interface OidcAccount {
  accountId: string;
  claims(use: string, scope: string): Promise<OidcClaims>;
  [key: string]: unknown;
}
export interface OidcClaims {
  sub: string;
  [claim: string]: unknown;
}

export interface AccountService {
  /**
   * @throws AppError 400 `invalid_request` naming the field (bad input, a password the policy
   * refuses), 409 `conflict` naming `username` or `email` when taken
   */
  register(input: unknown): Promise<PublicUser>;
  /**
   * With `expected`, only if the user is still that version (`updatedAt`).
   * @throws AppError as `register`, and 404 `not_found`, 412 `precondition_failed` (no longer `expected`)
   */
  update(id: string, input: unknown, options?: { expected?: Date | undefined }): Promise<PublicUser>;
  get(id: string): Promise<PublicUser | undefined>;
  list(options?: {
    limit?: number;
    after?: string;
    filter?: { status?: 'active' | 'disabled' | undefined; username?: string | undefined; email?: string | undefined };
  }): Promise<{ users: PublicUser[]; next: string | undefined }>;
  /** @throws AppError 404 `not_found`, 412 `precondition_failed` when it is no longer the `expected` version */
  remove(id: string, options?: { expected?: Date | undefined }): Promise<void>;
  /**
   * Checks a username (or email) and password. An unknown user, a wrong password and a
   * disabled account cost one argon2 verification each, so timing tells them apart no more than words do.
   */
  authenticate(username: string, password: string, ctx?: SignInContext): Promise<AuthenticationResult>;
  /** The id of the user a sign-in name designates (to name the account a failed sign-in was about, in the event log). */
  idOfLogin(login: string): Promise<string | undefined>;
  /** For oidc-provider: undefined for a missing or disabled user, which ends their sessions and tokens. */
  findAccount(sub: string): Promise<OidcAccount | undefined>;
  /**
   * Ends every session of the user and everything issued in them: grants, codes, access and
   * refresh tokens (`offline_access` included), pending sign-in steps. `update` calls it when the
   * password changes or the account is disabled, `remove` when it is deleted.
   * @returns how many stored sessions, grants and tokens were removed
   */
  endSessions(
    userId: string,
    reason: SessionEndReason,
    actor?: string,
    options?: {
      /** false when the caller records the event itself (the admin API's audit) */
      record?: boolean;
    },
  ): Promise<number>;
  /**
   * Ends the user's access tokens issued until now (their sessions stay): for a change that ends
   * some sessions but keeps the one making it (the session service's `endOthers`).
   */
  endAccessTokens(userId: string): Promise<void>;
  /**
   * Whether an access token issued to this user at `issuedAt` (epoch seconds, its `iat`) still
   * stands: the user exists, is active, and no password change, disabling or ending of sessions
   * came since. Cached per user and invalidated through the cache bus on every change, so a
   * live token costs no database round trip.
   */
  tokenStillValid(userId: string, issuedAt: number): Promise<boolean>;
  /** Remembers the language `userId` uses the pages in (a catalog tag), for the mails they get. */
  rememberLocale(userId: string, locale: string): Promise<void>;
}

/** What a user's access tokens depend on; null for a user that does not exist. */
type UserStanding = { active: boolean; validAfterMs: number } | null;

/**
 * The instant before which a user's access tokens end, when they end now. `iat` has whole
 * seconds only (RFC 7519 NumericDate as this server writes it), so the cut is the next whole
 * second: a token issued in the same second as the change, before or after it, cannot be told
 * apart and ends too; one a second later stands.
 */
export const tokenCutoff = (now = Date.now()): Date => new Date(Math.ceil(now / 1000) * 1000);

export type SessionEndReason =
  | 'password_changed'
  | 'disabled'
  | 'deleted'
  | 'admin'
  // the person chose to sign out their sessions (/account)
  | 'user'
  | 'password_reset';

const SCOPE_CLAIMS = {
  profile: (u: UserRecord) => ({
    name: u.name ?? undefined,
    given_name: u.givenName ?? undefined,
    family_name: u.familyName ?? undefined,
    preferred_username: u.username,
    updated_at: Math.floor(u.updatedAt.getTime() / 1000),
  }),
  email: (u: UserRecord) => (u.email === null ? {} : { email: u.email, email_verified: u.emailVerified }),
} as const;

/** OIDC Core §5.4: the standard claims each scope asks for; undefined values are left out. */
function claimsFor(user: UserRecord, scope: string): OidcClaims {
  const claims: OidcClaims = { sub: user.id };
  const scopes = new Set(scope.split(' '));
  for (const [name, pick] of Object.entries(SCOPE_CLAIMS)) {
    if (!scopes.has(name)) continue;
    for (const [claim, value] of Object.entries(pick(user))) {
      if (value !== undefined) claims[claim] = value;
    }
  }
  return claims;
}

/** The first problem zod found, as a 400 naming its field. */
const invalid = (error: z.ZodError): AppError => {
  const issue = error.issues[0];
  const field = issue?.path.join('.') || undefined;
  if (!field) return new AppError('invalid_request', 400, issue?.message ?? 'invalid input');
  return invalidField(field, `${field}: ${issue?.message ?? 'invalid'}`);
};

/** A unique column whose value is taken, in words for the admin and the sign-up page. */
const taken = ({ field }: { field: string }): AppError => {
  const message = field === 'email' ? 'This email address is already in use.' : 'This username is already taken.';
  return conflict(message, [{ field: field === 'email' ? 'email' : 'username', message }]);
};

export function createAccountService(deps: {
  users: UserRepository;
  passwords: PasswordService;
  log: Logger;
  /** where oidc-provider keeps sessions, grants and tokens (without it nothing is ended: unit tests) */
  payloads?: Pick<OidcPayloadRepository, 'destroyByAccount'>;
  events?: { record(event: SecurityEventInput): void };
  /** tells the clients of the sessions about to end (back-channel logout); without it none are told */
  backchannel?: { sessionsEnding(accountId: string): Promise<void> };
  /** tells every instance a user changed (the token standing below is cached); without it nothing is cached */
  bus?: CacheBus;
}): AccountService {
  const { users, passwords, log, bus } = deps;
  const standing = new TtlCache<UserStanding>({ ttlMs: 60_000, max: 50_000 });
  if (bus) followTopic(bus, 'user', standing);
  const changed = async (userId: string) => {
    await bus?.publish({ topic: 'user', key: userId });
  };
  const loadStanding = async (userId: string): Promise<UserStanding> => {
    const user = await users.findById(userId);
    if (!user) return null;
    return { active: user.status === 'active', validAfterMs: user.tokensValidAfter?.getTime() ?? 0 };
  };

  /** Removes what oidc-provider keeps for the user's sessions; the caller has ended their access tokens. */
  const closeSessions = async (userId: string, reason: SessionEndReason, actor?: string, record = true) => {
    // queued durably before the sessions (and their sids) are gone; a failure here must not keep them alive
    await deps.backchannel
      ?.sessionsEnding(userId)
      .catch((err: unknown) => log.error({ err, userId }, 'back-channel logouts not queued'));
    const removed = (await deps.payloads?.destroyByAccount(userId)) ?? 0;
    log.info({ userId, reason, removed }, 'sessions ended');
    if (record)
      deps.events?.record({
        type: 'session.revoked',
        subject: userId,
        actor,
        details: { reason, scope: 'all', removed },
      });
    return removed;
  };

  const endAccessTokens: AccountService['endAccessTokens'] = async (userId) => {
    // RFC 7662 §2.2: the access tokens of those sessions are self-contained JWTs; introspection
    // and the admin API answer for them by this cut
    await users.endTokensBefore(userId, tokenCutoff());
    await changed(userId);
  };

  const endSessions: AccountService['endSessions'] = async (userId, reason, actor, options) => {
    await endAccessTokens(userId);
    return closeSessions(userId, reason, actor, options?.record ?? true);
  };

  /** The hash of a password the policy accepts; a 400 naming `password` otherwise. */
  const passwordHash = async (
    password: string,
    identifiers: { username: string; email: string | null },
  ): Promise<string> => {
    const policy = passwords.check(password, identifiers);
    if (!policy.ok) throw invalidField('password', policy.message);
    return passwords.hash(password);
  };

  return {
    async register(input) {
      const parsed = RegisterInput.safeParse(input);
      if (!parsed.success) throw invalid(parsed.error);
      const { password, email, username, emailVerified, name, givenName, familyName, status } = parsed.data;
      const normalizedEmail = email ? normalizeEmail(email) : null;
      const hash =
        password === undefined || password === null
          ? null
          : await passwordHash(password, { username, email: normalizedEmail });
      const user = await unlessTaken(
        users.create({
          id: randomUUID(),
          username,
          usernameNormalized: normalizeUsername(username),
          email: normalizedEmail,
          // a new account is active and its address unverified unless the caller says otherwise
          emailVerified: emailVerified ?? false,
          name: name ?? null,
          givenName: givenName ?? null,
          familyName: familyName ?? null,
          passwordHash: hash,
          status: status ?? 'active',
        }),
        taken,
      );
      log.info({ userId: user.id }, 'user created');
      return toPublicUser(user);
    },

    async update(id, input, options = {}) {
      const parsed = UpdateInput.safeParse(input);
      if (!parsed.success) throw invalid(parsed.error);
      const current = await users.findById(id);
      if (!current) throw notFound('user');
      const { password, email, username, emailVerified, name, givenName, familyName, status } = parsed.data;
      // a field left out (or given as undefined) stays as it is
      const changes: UserChanges = {
        ...(emailVerified === undefined ? {} : { emailVerified }),
        ...(name === undefined ? {} : { name }),
        ...(givenName === undefined ? {} : { givenName }),
        ...(familyName === undefined ? {} : { familyName }),
        ...(status === undefined ? {} : { status }),
      };
      if (username !== undefined) {
        changes.username = username;
        changes.usernameNormalized = normalizeUsername(username);
      }
      if (email !== undefined) {
        changes.email = email === null ? null : normalizeEmail(email);
        // a new address has not been verified, unless the caller says so in the same request
        if (changes.email !== current.email && emailVerified === undefined) changes.emailVerified = false;
      }
      if (password !== undefined) {
        if (password === null) {
          changes.passwordHash = null;
        } else {
          changes.passwordHash = await passwordHash(password, {
            username: changes.username ?? current.username,
            email: changes.email === undefined ? current.email : changes.email,
          });
        }
      }
      // A new password must lock out whoever knew the old one: their sessions, refresh and access
      // tokens end with it (OWASP Session Management Cheat Sheet, "Renew the Session ID After Any
      // Privilege Level Change"; NIST SP 800-63B §6.1.4). So does disabling the account. The
      // access tokens' cut is written with the change itself: no moment has one without the other.
      const ending: SessionEndReason | undefined =
        password !== undefined
          ? 'password_changed'
          : status === 'disabled' && current.status !== 'disabled'
            ? 'disabled'
            : undefined;
      if (ending) changes.tokensValidAfter = tokenCutoff();
      const updated = await unlessTaken(users.update(id, changes, options.expected), taken);
      if (updated === 'stale') throw stale();
      if (!updated) throw notFound('user');
      await changed(id);
      log.info({ userId: id, fields: Object.keys(parsed.data) }, 'user updated');
      if (ending) await closeSessions(id, ending);
      return toPublicUser(updated);
    },

    get: async (id) => {
      const user = await users.findById(id);
      return user && toPublicUser(user);
    },

    async list(options) {
      const { filter, ...rest } = options ?? {};
      const page: UserPage = await users.list({
        ...rest,
        filter: {
          status: filter?.status,
          usernamePrefix: filter?.username ? normalizeUsername(filter.username) : undefined,
          email: filter?.email ? normalizeEmail(filter.email) : undefined,
        },
      });
      return { users: page.users.map(toPublicUser), next: page.next };
    },

    async remove(id, options = {}) {
      const removed = await users.delete(id, options.expected);
      if (removed === 'stale') throw stale();
      if (!removed) throw notFound('user');
      await changed(id);
      log.info({ userId: id }, 'user deleted');
      await closeSessions(id, 'deleted');
    },

    async authenticate(username, password, ctx = {}) {
      const login = username.trim();
      const user = login === '' ? undefined : await users.findByLogin(normalizeUsername(login), normalizeEmail(login));
      // Always exactly one argon2 verification: against the user's hash, or the dummy one
      // when there is no user or no password (timing says nothing about existence).
      const check = await passwords.verify(user?.passwordHash, password);
      // lines for operators only: the sign-in flow records `signin.*` events, knowing what came after
      if (!user || !check.ok) {
        log.info({ reason: 'invalid_credentials', userId: user?.id, ...ctx }, 'password check failed');
        return { ok: false, reason: 'invalid_credentials' };
      }
      if (user.status !== 'active') {
        log.info({ reason: 'disabled', userId: user.id, ...ctx }, 'password check failed');
        return { ok: false, reason: 'disabled' };
      }
      const at = new Date();
      if (check.needsRehash) {
        // the parameters changed since this hash was made: upgrade it while we hold the password
        try {
          await users.update(user.id, { passwordHash: await passwords.hash(password) });
          log.info({ userId: user.id }, 'password rehashed with current parameters');
        } catch (err) {
          log.warn({ err, userId: user.id }, 'password rehash failed; the old hash stays valid');
        }
      }
      await users.recordSignIn(user.id, at);
      log.info({ userId: user.id, ...ctx }, 'password check passed');
      return { ok: true, user: toPublicUser({ ...user, lastSignInAt: at }) };
    },

    endSessions,
    endAccessTokens,

    async idOfLogin(login) {
      return (await users.findByLogin(normalizeUsername(login), normalizeEmail(login)))?.id;
    },

    async rememberLocale(userId, locale) {
      await users.setLocale(userId, locale);
    },

    async tokenStillValid(userId, issuedAt) {
      const found = bus ? await standing.getOrLoad(userId, () => loadStanding(userId)) : await loadStanding(userId);
      return found?.active === true && issuedAt * 1000 >= found.validAfterMs;
    },

    async findAccount(sub) {
      const user = await users.findById(sub);
      if (user?.status !== 'active') return undefined;
      return {
        accountId: user.id,
        // read once per lookup; oidc-provider calls findAccount anew for each request
        claims: async (_use, scope) => claimsFor(user, scope),
      };
    },
  };
}
