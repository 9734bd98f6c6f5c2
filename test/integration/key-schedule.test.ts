import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type Database, openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrator.ts';
import { createLogger } from '../../src/logger.ts';
import { createKeyService, type KeyService } from '../../src/services/keys.ts';
import { createRepositories } from '../../src/wiring/repositories.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

const DAY = 86_400_000;
const AHEAD = 600;

/**
 * The key service over a real database with a clock the test moves: scheduled rotation, the
 * moment a pending key starts signing, and the moment a retired key leaves the JWKS.
 */
describe('signing key schedule', () => {
  let database: TestDatabase;
  let db: Database;
  let keys: KeyService;
  let longest = 3600;
  const start = new Date('2030-01-01T00:00:00Z').getTime();
  let clock = start;
  const at = (ms: number) => {
    clock = ms;
  };

  before(async () => {
    database = await createTestDatabase();
    const log = createLogger('silent');
    db = await openDatabase({ databaseUrl: database.env.DATABASE_URL, dataDir: database.env.DATA_DIR ?? '' }, log);
    await migrate(db, log);
    keys = createKeyService({
      repo: createRepositories(db).signingKeys,
      encryptionKey: randomBytes(32),
      log,
      publishAheadSeconds: AHEAD,
      longestTokenLifetime: async () => longest,
      now: () => new Date(clock),
    });
    await keys.ensure();
  });
  after(async () => {
    await db?.close();
    await database?.drop();
  });

  const states = async () => (await keys.list()).map((k) => `${k.alg}:${k.state}`).sort();

  test('ensure makes one active key per algorithm, once', async () => {
    await keys.ensure();
    assert.deepEqual(await states(), ['ES256:active', 'RS256:active']);
  });

  test('KEY_ROTATION_DAYS: nothing before the keys are due, one rotation when they are', async () => {
    at(start + 89 * DAY);
    assert.equal(await keys.rotateIfOlderThan(90), undefined);
    at(start + 90 * DAY);
    const rotation = await keys.rotateIfOlderThan(90);
    assert.ok(rotation);
    assert.equal(rotation.activatesAt.getTime(), clock + AHEAD * 1000);
    assert.deepEqual(await states(), ['ES256:active', 'ES256:pending', 'RS256:active', 'RS256:pending']);
    // another instance checking a moment later: a key is pending, nothing more
    at(clock + 1000);
    assert.equal(await keys.rotateIfOlderThan(90), undefined);
  });

  test('the pending key signs at activates_at; the keystore lists it first then', async () => {
    const before = await keys.load();
    const pending = before.keys.filter((k) => k.state === 'pending');
    assert.equal(before.nextChange?.getTime(), pending[0]?.activatesAt.getTime());
    // while pending, the active key comes first (oidc-provider signs with the first that fits)
    assert.equal(before.keys[0]?.state, 'active');
    assert.notEqual((before.privateJwks[0] as { kid?: string }).kid, pending[0]?.kid);

    at((pending[0]?.activatesAt.getTime() ?? 0) - 1);
    assert.deepEqual(await states(), ['ES256:active', 'ES256:pending', 'RS256:active', 'RS256:pending']);
    at(pending[0]?.activatesAt.getTime() ?? 0);
    assert.deepEqual(await states(), ['ES256:active', 'ES256:retired', 'RS256:active', 'RS256:retired']);
    const after = await keys.load();
    const firstEs = after.privateJwks.find((k) => (k as { alg?: string }).alg === 'ES256') as { kid?: string };
    assert.ok(
      pending.some((k) => k.kid === firstEs.kid),
      'the new key signs',
    );
    assert.equal(after.publicJwks.length, 4, 'the retired keys are still published');
  });

  test('a retired key leaves the JWKS when its longest-lived token has expired, then the purge deletes it', async () => {
    const retired = (await keys.list()).filter((k) => k.state === 'retired');
    const expiresAt = retired[0]?.expiresAt?.getTime() ?? 0;
    assert.equal(expiresAt - (retired[0]?.retiredAt?.getTime() ?? 0), (3600 + 300) * 1000);
    at(expiresAt - 1);
    assert.equal((await keys.load()).publicJwks.length, 4);
    assert.equal((await keys.load()).nextChange?.getTime(), expiresAt);
    at(expiresAt);
    assert.equal((await keys.load()).publicJwks.length, 2);
    assert.equal(await keys.deleteExpired(), 2);
  });

  test('the retention follows the longest access token lifetime of the APIs', async () => {
    longest = 86_400;
    const rotation = await keys.rotate({ immediate: true });
    const retired = (await keys.list()).filter((k) => k.state === 'retired');
    assert.equal(retired.length, 2);
    for (const key of retired) {
      assert.equal((key.expiresAt?.getTime() ?? 0) - rotation.activatesAt.getTime(), (86_400 + 300) * 1000);
    }
  });

  test('an immediate rotation replaces a pending key, which signed nothing', async () => {
    const ahead = await keys.rotate();
    const immediate = await keys.rotate({ immediate: true });
    const kids = (await keys.list()).map((k) => k.kid);
    for (const kid of ahead.rotated) assert.ok(!kids.includes(kid), 'the pending key is gone');
    assert.deepEqual(immediate.withdrawn, []);
    assert.deepEqual(
      (await states()).filter((s) => !s.endsWith('retired')),
      ['ES256:active', 'RS256:active'],
    );
  });
});
