import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Database, openDatabase } from '../../../src/db/database.ts';
import { migrate } from '../../../src/db/migrator.ts';
import { createUserRepository } from '../../../src/db/repositories/users.ts';
import { AppError } from '../../../src/errors.ts';
import { createLogger } from '../../../src/logger.ts';
import { type AccountService, createAccountService, tokenCutoff } from '../../../src/services/accounts.ts';
import { createCacheBus } from '../../../src/services/cache.ts';
import { argon2Hasher, createPasswordService, type Hasher } from '../../../src/services/passwords.ts';
import type { UserRepository } from '../../../src/services/ports/users.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';

const FAST = { memoryCost: 1024, timeCost: 1, parallelism: 1 };
const log = createLogger('silent');

/** the real argon2, counting verifications */
const verifications = { count: 0 };
const countingHasher: Hasher = {
  ...argon2Hasher,
  verify: (hash, password) => {
    verifications.count++;
    return argon2Hasher.verify(hash, password);
  },
};

// A fresh database per run: PostgreSQL when TEST_DATABASE_URL or DATABASE_URL names a server
// (e.g. TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres), the embedded one otherwise.
describe('accounts (on a fresh database)', () => {
  let database: TestDatabase;
  let db: Database;
  let users: UserRepository;
  let accounts: AccountService;

  before(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.env.DATABASE_URL, dataDir: database.env.DATA_DIR ?? '.data' }, log);
    await migrate(db, log);
    users = createUserRepository(db.prisma, db.query);
    accounts = createAccountService({
      users,
      passwords: createPasswordService({ params: FAST, hasher: countingHasher }),
      log,
    });
  });

  after(async () => {
    await db?.close();
    await database?.drop();
  });

  const register = (input: Record<string, unknown>) => accounts.register(input);

  /** the refusal a write is thrown with: its code, status, field and words */
  const refusal = async (write: Promise<unknown>) => {
    const err = await write.then(
      () => assert.fail('the write went through'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AppError, String(err));
    return { code: err.code, status: err.status, field: err.details?.[0]?.field, message: err.message };
  };

  it('registers a user and never returns the password hash', async () => {
    const user = await register({
      username: 'Alice',
      email: 'Alice@Example.ORG',
      password: 'correct horse battery staple',
      name: 'Alice Liddell',
      givenName: 'Alice',
      familyName: 'Liddell',
    });
    assert.equal(user.username, 'Alice');
    assert.equal(user.email, 'alice@example.org');
    assert.equal(user.emailVerified, false);
    assert.equal(user.status, 'active');
    assert.equal(user.hasPassword, true);
    assert.ok(!('passwordHash' in user));
    const row = await users.findById(user.id);
    assert.match(row?.passwordHash ?? '', /^\$argon2id\$/);
  });

  it('refuses a username taken in another case or compatibility form, and a taken email, as conflicts', async () => {
    const usernameTaken = {
      code: 'conflict',
      status: 409,
      field: 'username',
      message: 'This username is already taken.',
    };
    assert.deepEqual(
      await refusal(accounts.register({ username: 'ALICE', password: 'another fine passphrase' })),
      usernameTaken,
    );
    // fullwidth letters, NFKC-equal
    assert.deepEqual(await refusal(accounts.register({ username: 'Ａｌｉｃｅ' })), usernameTaken);
    assert.deepEqual(await refusal(accounts.register({ username: 'alice2', email: 'ALICE@example.org' })), {
      code: 'conflict',
      status: 409,
      field: 'email',
      message: 'This email address is already in use.',
    });
  });

  it('refuses bad input and weak passwords as 400s naming the field', async () => {
    const unknownField = await refusal(accounts.register({ username: 'bob', admin: true }));
    assert.deepEqual([unknownField.code, unknownField.status], ['invalid_request', 400]);
    const badEmail = await refusal(accounts.register({ username: 'bob', email: 'not an email' }));
    assert.deepEqual([badEmail.code, badEmail.field], ['invalid_request', 'email']);
    const atInName = await refusal(accounts.register({ username: 'bob@example.org' }));
    assert.deepEqual([atInName.code, atInName.field], ['invalid_request', 'username']);
    const common = await refusal(accounts.register({ username: 'bob', password: 'password123' }));
    assert.deepEqual([common.code, common.field], ['invalid_request', 'password']);
    assert.match(common.message, /too common/);
    const same = await refusal(accounts.register({ username: 'bobby-tables', password: 'Bobby-Tables' }));
    assert.deepEqual([same.code, same.field], ['invalid_request', 'password']);
    assert.match(same.message, /must not be your username/);
  });

  it('authenticates by username in any case, or by email', async () => {
    const byName = await accounts.authenticate('alice', 'correct horse battery staple');
    assert.ok(byName.ok);
    assert.equal(byName.user.username, 'Alice');
    assert.ok(byName.user.lastSignInAt instanceof Date);
    const byEmail = await accounts.authenticate('ALICE@example.org', 'correct horse battery staple');
    assert.ok(byEmail.ok);
    const row = await users.findById(byName.user.id);
    assert.ok(row?.lastSignInAt);
  });

  it('answers an unknown user, a wrong password and a disabled account alike, with one verification each', async () => {
    const disabled = await register({ username: 'carol', password: 'carol has a long password', status: 'disabled' });
    const noPassword = await register({ username: 'dave' });

    const attempts: Array<[string, string]> = [
      ['nobody-here', 'correct horse battery staple'],
      ['alice', 'wrong horse battery staple'],
      ['carol', 'wrong password entirely'],
      ['dave', 'dave has no password'],
      ['', 'empty username'],
    ];
    for (const [username, password] of attempts) {
      const before = verifications.count;
      const result = await accounts.authenticate(username, password);
      assert.deepEqual(result, { ok: false, reason: 'invalid_credentials' }, username);
      assert.equal(verifications.count - before, 1, `${username}: exactly one argon2 verification`);
    }

    const before = verifications.count;
    const right = await accounts.authenticate('carol', 'carol has a long password');
    assert.deepEqual(right, { ok: false, reason: 'disabled' });
    assert.equal(verifications.count - before, 1);
    assert.equal(noPassword.hasPassword, false);
    assert.equal(disabled.status, 'disabled');
  });

  it('rehashes at sign-in when the parameters changed', async () => {
    const stronger = createAccountService({
      users,
      passwords: createPasswordService({ params: { memoryCost: 2048, timeCost: 1, parallelism: 1 } }),
      log,
    });
    const old = await users.findByUsername('alice');
    assert.match(old?.passwordHash ?? '', /m=1024/);
    const result = await stronger.authenticate('alice', 'correct horse battery staple');
    assert.ok(result.ok);
    const now = await users.findByUsername('alice');
    assert.match(now?.passwordHash ?? '', /m=2048/);
    // and the new hash still verifies with the old service (parameters are read from the hash)
    assert.ok((await accounts.authenticate('alice', 'correct horse battery staple')).ok);
  });

  it('serves OIDC claims by scope, and no account for a disabled or missing user', async () => {
    const alice = await users.findByUsername('alice');
    assert.ok(alice);
    const account = await accounts.findAccount(alice.id);
    assert.ok(account);
    assert.equal(account.accountId, alice.id);
    assert.deepEqual(await account.claims('id_token', 'openid'), { sub: alice.id });
    const all = await account.claims('userinfo', 'openid profile email');
    assert.deepEqual(all, {
      sub: alice.id,
      name: 'Alice Liddell',
      given_name: 'Alice',
      family_name: 'Liddell',
      preferred_username: 'Alice',
      updated_at: Math.floor(alice.updatedAt.getTime() / 1000),
      email: 'alice@example.org',
      email_verified: false,
    });
    const carol = await users.findByUsername('carol');
    assert.equal(await accounts.findAccount(carol?.id ?? ''), undefined);
    assert.equal(await accounts.findAccount('00000000-0000-0000-0000-000000000000'), undefined);
  });

  it('updates a user: a new email is unverified, a taken one is a conflict, and a missing user is not_found', async () => {
    const bob = await register({ username: 'bob', email: 'bob@example.org', emailVerified: true });
    const moved = await accounts.update(bob.id, { email: 'Bob@Elsewhere.example' });
    assert.equal(moved.email, 'bob@elsewhere.example');
    assert.equal(moved.emailVerified, false);
    const taken = await refusal(accounts.update(bob.id, { email: 'alice@example.org' }));
    assert.deepEqual([taken.code, taken.status, taken.field], ['conflict', 409, 'email']);
    const missing = await refusal(accounts.update('00000000-0000-0000-0000-000000000000', { name: 'x' }));
    assert.deepEqual([missing.code, missing.status], ['not_found', 404]);
    const stale = await refusal(accounts.update(bob.id, { name: 'Bob' }, { expected: new Date(0) }));
    assert.deepEqual([stale.code, stale.status], ['precondition_failed', 412]);
    const withPassword = await accounts.update(bob.id, { password: 'bob finally has a password' });
    assert.ok(withPassword.hasPassword);
    assert.ok((await accounts.authenticate('bob', 'bob finally has a password')).ok);
  });

  it('lists users with a cursor and deletes them', async () => {
    const first = await accounts.list({ limit: 2 });
    assert.equal(first.users.length, 2);
    assert.ok(first.next);
    const rest = await accounts.list({ limit: 100, after: first.next });
    const all = [...first.users, ...rest.users].map((u) => u.username);
    assert.deepEqual(new Set(all).size, all.length);
    assert.ok(all.includes('Alice') && all.includes('bob'));
    assert.equal(rest.next, undefined);

    const dave = await users.findByUsername('dave');
    await accounts.remove(dave?.id ?? '');
    assert.equal((await refusal(accounts.remove(dave?.id ?? ''))).code, 'not_found');
  });

  it('a token stands while its user is active and nothing ended it; every end is seen through the cache', async () => {
    const published: string[] = [];
    const bus = createCacheBus({
      listen: async () => {},
      notify: async (_channel, payload) => {
        published.push(payload);
      },
    });
    const cached = createAccountService({
      users,
      passwords: createPasswordService({ params: FAST }),
      log,
      bus,
    });
    const { id } = await cached.register({ username: 'standing', password: 'correct horse battery staple' });
    const issuedNow = () => Math.floor(Date.now() / 1000);
    const early = issuedNow();
    assert.equal(await cached.tokenStillValid(id, early), true);

    // a password change: tokens of that second and before end; the next second's stand
    const cut = tokenCutoff().getTime() / 1000;
    await cached.update(id, { password: 'another horse, another staple' });
    assert.ok(
      published.some((p) => p.includes(id)),
      'other instances are told',
    );
    assert.equal(await cached.tokenStillValid(id, early), false);
    assert.equal(await cached.tokenStillValid(id, cut), true);

    // disabled: nothing stands, and enabling again revives nothing issued before
    const disabled = tokenCutoff().getTime() / 1000;
    await cached.update(id, { status: 'disabled' });
    assert.equal(await cached.tokenStillValid(id, disabled + 60), false);
    await cached.update(id, { status: 'active' });
    assert.equal(await cached.tokenStillValid(id, disabled - 1), false);
    assert.equal(await cached.tokenStillValid(id, tokenCutoff().getTime() / 1000), true);

    // ended sessions move the cut without changing the user's version
    const version = (await cached.get(id))?.updatedAt.getTime();
    const later = tokenCutoff(Date.now() + 5000).getTime() / 1000;
    // a token of the second the end starts in (read before it: under load the end may finish in
    // the next second, and a token of that second is not one it ended)
    const endingSecond = tokenCutoff().getTime() / 1000 - 1;
    await cached.endSessions(id, 'admin');
    assert.equal(await cached.tokenStillValid(id, endingSecond), false);
    assert.equal(await cached.tokenStillValid(id, later), true);
    assert.equal((await cached.get(id))?.updatedAt.getTime(), version);

    // a deleted (or never existing) user has no standing tokens
    await cached.remove(id);
    assert.equal(await cached.tokenStillValid(id, later), false);
    assert.equal(await cached.tokenStillValid('no-such-user', later), false);
  });

  it('the token cut is the next whole second (iat has whole seconds)', () => {
    assert.equal(tokenCutoff(1_000_000).getTime(), 1_000_000);
    assert.equal(tokenCutoff(1_000_001).getTime(), 1_001_000);
    assert.equal(tokenCutoff(1_000_999).getTime(), 1_001_000);
  });
});
