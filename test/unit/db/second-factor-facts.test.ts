import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Database, openDatabase } from '../../../src/db/database.ts';
import { migrate } from '../../../src/db/migrator.ts';
import { createSecondFactorFactsRepository } from '../../../src/db/repositories/second-factor-facts.ts';
import { createLogger } from '../../../src/logger.ts';
import type { SecondFactorFactsRepository } from '../../../src/services/ports/second-factor-facts.ts';
import { createRepositories, type Repositories } from '../../../src/wiring/repositories.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';

const log = createLogger('silent');

// The one statement a sign-in reads a user's second factors with must say what the separate
// reads (the setting, the passkey list, the app) say, for that user only, and never answer a
// question asked after a write with what was read before it.
describe('second-factor facts in one statement', () => {
  let database: TestDatabase;
  let db: Database;
  let repos: Repositories;
  let facts: SecondFactorFactsRepository;
  let statements = 0;

  before(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.env.DATABASE_URL, dataDir: database.env.DATA_DIR ?? '.data' }, log);
    await migrate(db, log);
    repos = createRepositories(db);
    facts = createSecondFactorFactsRepository((sql, params) => {
      statements++;
      return db.query(sql, params);
    });
  });
  after(async () => {
    await db?.close();
    await database?.drop();
  });

  /** what the separate reads say */
  const separately = async (userId: string) => ({
    mfaRequired: await repos.passkeys.mfaRequired(userId),
    passkeys: (await repos.passkeys.listByUser(userId)).length,
    totp: (await repos.secondFactors.findTotp(userId))?.confirmedAt != null,
  });
  const passkey = (id: string, userId: string) => ({
    id,
    userId,
    credentialId: `cred-${id}`,
    publicKey: new Uint8Array([1, 2, 3]),
    counter: 0,
    transports: ['usb'],
    backupEligible: false,
    backedUp: false,
    aaguid: '00000000-0000-0000-0000-000000000000',
    name: id,
  });

  it('agrees with the separate reads at every step, for its user only', async () => {
    await repos.users.create({ id: 'f-ann', username: 'f-ann', usernameNormalized: 'f-ann' });
    await repos.users.create({ id: 'f-bob', username: 'f-bob', usernameNormalized: 'f-bob' });
    const none = { mfaRequired: false, passkeys: 0, totp: false };
    const check = async (userId: string, expected: typeof none) => {
      assert.deepEqual(await facts.of(userId), expected);
      assert.deepEqual(await separately(userId), expected);
    };
    await check('f-ann', none);
    await check('no-such-user', none);

    // bob's factors are never ann's
    await repos.passkeys.setMfaRequired('f-bob', true);
    assert.equal(await repos.passkeys.create(passkey('bob-1', 'f-bob')), true);
    assert.equal(await repos.secondFactors.startTotp('f-bob', 'sealed-bob'), true);
    assert.equal(await repos.secondFactors.confirmTotp('f-bob', 'sealed-bob', 1, ['h1']), true);
    await check('f-ann', none);
    await check('f-bob', { mfaRequired: true, passkeys: 1, totp: true });

    // an app not yet confirmed is no second factor
    assert.equal(await repos.secondFactors.startTotp('f-ann', 'sealed-ann'), true);
    await check('f-ann', none);
    assert.equal(await repos.passkeys.create(passkey('ann-1', 'f-ann')), true);
    assert.equal(await repos.passkeys.create(passkey('ann-2', 'f-ann')), true);
    await check('f-ann', { mfaRequired: false, passkeys: 2, totp: false });
    assert.equal(await repos.secondFactors.confirmTotp('f-ann', 'sealed-ann', 1, ['h2']), true);
    await repos.passkeys.setMfaRequired('f-ann', true);
    await check('f-ann', { mfaRequired: true, passkeys: 2, totp: true });
    await repos.passkeys.setMfaRequired('f-ann', false);
    await repos.secondFactors.removeAll('f-ann');
    await check('f-ann', { mfaRequired: false, passkeys: 2, totp: false });
  });

  it('shares one statement between the reads of one Promise.all, and reads afresh after an await', async () => {
    await repos.users.create({ id: 'f-cy', username: 'f-cy', usernameNormalized: 'f-cy' });
    statements = 0;
    const [a, b, c] = await Promise.all([facts.of('f-cy'), facts.of('f-cy'), facts.of('f-bob')]);
    assert.equal(statements, 2, 'one per user');
    assert.deepEqual(a, b);
    assert.equal(c.totp, true);

    await repos.passkeys.setMfaRequired('f-cy', true);
    assert.equal((await facts.of('f-cy')).mfaRequired, true, 'a read after the write sees it');
    assert.equal(statements, 3);
  });
});
