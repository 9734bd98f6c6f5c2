import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../../src/config/index.ts';
import {
  createAccountTokens,
  hashToken,
  newTokenValue,
  parseToken,
  TOKEN_TTL_SECONDS,
} from '../../../src/services/account-tokens.ts';
import type {
  AccountTokenRecord,
  AccountTokenRepository,
  NewAccountToken,
} from '../../../src/services/ports/account-tokens.ts';

/** The repository's rules on plain values: live = unused and unexpired; consume is single-use. */
function memoryRepo(): AccountTokenRepository & { rows: Map<string, NewAccountToken & { consumed: boolean }> } {
  const rows = new Map<string, NewAccountToken & { consumed: boolean }>();
  const live = (hash: string, purpose: string) => {
    const row = rows.get(hash);
    return row && row.purpose === purpose && !row.consumed && row.expiresAt > new Date() ? row : undefined;
  };
  const record = (row: NewAccountToken): AccountTokenRecord => ({
    purpose: row.purpose,
    userId: row.userId,
    email: row.email,
    data: row.data ?? {},
    expiresAt: row.expiresAt,
  });
  return {
    rows,
    async insert(token) {
      rows.set(token.tokenHash, { ...token, consumed: false });
    },
    async find(hash, purpose) {
      const row = live(hash, purpose);
      return row && record(row);
    },
    async consume(hash, purpose) {
      const row = live(hash, purpose);
      if (!row) return undefined;
      row.consumed = true;
      return record(row);
    },
    async consumeAllOf(userId, purpose) {
      let n = 0;
      for (const row of rows.values()) {
        if (row.userId !== userId || row.purpose !== purpose || row.consumed) continue;
        row.consumed = true;
        n++;
      }
      return n;
    },
    async purgeExpired() {
      return 0;
    },
  };
}

describe('account token rules', () => {
  test('a value is 256 random bits in 43 base64url characters; only that shape is a token', () => {
    const values = new Set(Array.from({ length: 100 }, newTokenValue));
    assert.equal(values.size, 100);
    for (const v of values) assert.equal(parseToken(v), v);
    for (const bad of [
      undefined,
      1,
      '',
      'a'.repeat(42),
      'a'.repeat(44),
      `${'a'.repeat(42)}=`,
      `${'a'.repeat(42)}\u0000`,
      `${'a'.repeat(42)}é`,
      ['x'],
    ]) {
      assert.equal(parseToken(bad), undefined, String(bad));
    }
  });

  test('only the SHA-256 is stored, never the value', async () => {
    const repo = memoryRepo();
    const { value } = await createAccountTokens(repo).issue('password_reset', {
      userId: 'u1',
      email: 'a@example.test',
    });
    assert.ok(repo.rows.has(hashToken(value)));
    assert.ok(!JSON.stringify([...repo.rows.entries()]).includes(value));
    assert.equal(hashToken(value), hashToken(value));
    assert.notEqual(hashToken(value), hashToken(newTokenValue()));
  });

  test('lifetimes: a reset link 15 minutes, a verification link a day', async () => {
    assert.equal(TOKEN_TTL_SECONDS.password_reset, 900);
    assert.equal(TOKEN_TTL_SECONDS.email_verification, 86_400);
    const now = new Date('2026-01-01T00:00:00Z');
    const { expiresAt } = await createAccountTokens(memoryRepo()).issue(
      'password_reset',
      { userId: 'u', email: null },
      now,
    );
    assert.equal(expiresAt.getTime() - now.getTime(), 900_000);
  });

  test('single use, bound to its purpose, dead when expired or revoked', async () => {
    const repo = memoryRepo();
    const tokens = createAccountTokens(repo);
    const a = await tokens.issue('password_reset', { userId: 'u', email: null });
    assert.equal(await tokens.peek('email_verification', a.value), undefined, 'another purpose');
    assert.ok(await tokens.peek('password_reset', a.value), 'peeking does not use it');
    assert.ok(await tokens.consume('password_reset', a.value));
    assert.equal(await tokens.consume('password_reset', a.value), undefined, 'used');
    const old = await tokens.issue('password_reset', { userId: 'u', email: null }, new Date(Date.now() - 901_000));
    assert.equal(await tokens.consume('password_reset', old.value), undefined, 'expired');
    const b = await tokens.issue('password_reset', { userId: 'u', email: null });
    await tokens.revokeAll('u', 'password_reset');
    assert.equal(await tokens.peek('password_reset', b.value), undefined, 'revoked with the others');
  });
});

describe('mail configuration', () => {
  const base = { NODE_ENV: 'test', PORT: '3000' };
  test('SMTP_URL must be smtp:// or smtps:// with a host; MAIL_FROM an address; defaults off', () => {
    const config = loadConfig(base);
    assert.equal(config.mail.smtpUrl, undefined);
    assert.equal(config.mail.signupEnabled, false);
    assert.equal(config.mail.signupRequiresVerification, true);
    assert.equal(
      loadConfig({ ...base, SMTP_URL: 'smtps://u:p@mail.example:465' }).mail.smtpUrl,
      'smtps://u:p@mail.example:465',
    );
    for (const bad of ['http://mail.example', 'smtp://', 'mail.example:25']) {
      assert.throws(() => loadConfig({ ...base, SMTP_URL: bad }), /^ConfigError: SMTP_URL: /);
    }
    assert.equal(loadConfig({ ...base, MAIL_FROM: 'Acme <idp@acme.example>' }).mail.from, 'Acme <idp@acme.example>');
    assert.throws(() => loadConfig({ ...base, MAIL_FROM: 'not an address' }), /MAIL_FROM: /);
    assert.throws(() => loadConfig({ ...base, SIGNUP_ENABLED: 'maybe' }), /SIGNUP_ENABLED: must be true or false/);
  });
});
