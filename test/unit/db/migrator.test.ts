import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readMigrations } from '../../../src/db/migrator.ts';

describe('migrations on disk', () => {
  test('are in Prisma layout, ordered, with sha256 checksums', () => {
    const migrations = readMigrations();
    assert.ok(migrations.length >= 1);
    const names = migrations.map((m) => m.name);
    assert.deepEqual([...names].sort(), names);
    for (const m of migrations) {
      assert.match(m.name, /^\d{14}_[a-z0-9_]+$/);
      assert.match(m.checksum, /^[0-9a-f]{64}$/);
      assert.ok(m.sql.trim().length > 0);
    }
  });
});
