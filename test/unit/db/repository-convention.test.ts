import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Database, openDatabase } from '../../../src/db/database.ts';
import { migrate } from '../../../src/db/migrator.ts';
import { createLogger } from '../../../src/logger.ts';
import { UniqueViolation } from '../../../src/services/ports/errors.ts';
import { createRepositories, type Repositories } from '../../../src/wiring/repositories.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';

const log = createLogger('silent');

/** the column a write's UniqueViolation names */
const takenColumn = async (write: Promise<unknown>) => {
  const err = await write.then(
    () => assert.fail('the write went through'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UniqueViolation, String(err));
  return err.field;
};

// one convention for every repository: undefined when missing, 'stale' when a conditional write
// lost, a thrown UniqueViolation naming the column when a unique value is taken
describe('repositories report absence, staleness and conflicts one way', () => {
  let database: TestDatabase;
  let db: Database;
  let repos: Repositories;

  before(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.env.DATABASE_URL, dataDir: database.env.DATA_DIR ?? '.data' }, log);
    await migrate(db, log);
    repos = createRepositories(db);
  });
  after(async () => {
    await db?.close();
    await database?.drop();
  });

  it('regression: users report a taken name or email as a UniqueViolation, not an { ok: false } result', async () => {
    const user = await repos.users.create({ id: 'u1', username: 'Ann', usernameNormalized: 'ann', email: 'a@x.org' });
    assert.equal(user.id, 'u1');
    assert.equal(
      await takenColumn(repos.users.create({ id: 'u2', username: 'ANN', usernameNormalized: 'ann' })),
      'username',
    );
    assert.equal(
      await takenColumn(repos.users.create({ id: 'u3', username: 'b', usernameNormalized: 'b', email: 'a@x.org' })),
      'email',
    );
    await repos.users.create({ id: 'u4', username: 'c', usernameNormalized: 'c' });
    assert.equal(await takenColumn(repos.users.update('u4', { email: 'a@x.org' })), 'email');
    assert.equal(await repos.users.update('missing', { name: 'x' }), undefined);
    assert.equal(await repos.users.update('u4', { name: 'x' }, new Date(0)), 'stale');
    assert.equal(await repos.users.delete('u4', new Date(0)), 'stale');
    assert.equal(await repos.users.delete('u4'), true);
    assert.equal(await repos.users.delete('u4'), undefined);
  });

  it('regression: clients, roles and resources throw UniqueViolation and answer undefined, never false', async () => {
    const client = {
      id: 'c1',
      name: null,
      metadata: {},
      secretHash: null,
      allowedResources: {},
      firstParty: false,
    };
    await repos.clients.create(client);
    assert.equal(await takenColumn(repos.clients.create(client)), 'id');
    assert.equal(await repos.clients.update('missing', { name: 'x' }), undefined);
    assert.equal(await repos.clients.delete('c1', new Date(0)), 'stale');
    assert.equal(await repos.clients.delete('c1'), true);
    assert.equal(await repos.clients.delete('c1'), undefined);

    await repos.roles.create({ id: 'r1', name: 'readers', description: null, permissions: [] });
    const other = await repos.roles.create({ id: 'r2', name: 'writers', description: null, permissions: [] });
    assert.equal(
      await takenColumn(repos.roles.create({ id: 'r3', name: 'readers', description: null, permissions: [] })),
      'name',
    );
    assert.equal(await takenColumn(repos.roles.update(other.id, { name: 'readers' })), 'name');
    assert.equal(await repos.roles.update('missing', { name: 'x' }), undefined);
    assert.equal(await repos.roles.delete('missing'), undefined);

    const api = { identifier: 'https://api.example', name: 'API', scopes: [], accessTokenTtl: 300, rolesClaim: false };
    await repos.resources.create({ id: 'rs1', ...api });
    assert.equal(await takenColumn(repos.resources.create({ id: 'rs2', ...api })), 'identifier');
    assert.equal(await repos.resources.update('missing', { name: 'x' }), undefined);
    assert.equal(await repos.resources.delete('missing'), undefined);
  });

  it('a passkey whose credential id is registered already is refused with false, on either driver', async () => {
    await repos.users.create({ id: 'pk-owner', username: 'pk', usernameNormalized: 'pk' });
    const passkey = {
      id: 'pk1',
      userId: 'pk-owner',
      credentialId: 'cred-1',
      publicKey: new Uint8Array([1, 2, 3]),
      counter: 0,
      transports: ['usb'],
      backupEligible: false,
      backedUp: false,
      aaguid: '00000000-0000-0000-0000-000000000000',
      name: 'key',
    };
    assert.equal(await repos.passkeys.create(passkey), true);
    assert.equal(await repos.passkeys.create({ ...passkey, id: 'pk2' }), false);
  });
});
