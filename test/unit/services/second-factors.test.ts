import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { describe, test } from 'node:test';
import { authenticationMethods } from '../../../src/services/authentication-policy.ts';
import {
  generateRecoveryCode,
  hashRecoveryCode,
  normalizeCode,
  RECOVERY_CODE_COUNT,
} from '../../../src/services/second-factors.ts';

describe('recovery codes', () => {
  test('ten characters of Crockford base32 in two groups (50 bits), all different', () => {
    const codes = Array.from({ length: 1000 }, generateRecoveryCode);
    for (const c of codes) assert.match(c, /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
    assert.equal(new Set(codes).size, codes.length);
    assert.equal(RECOVERY_CODE_COUNT, 10);
  });

  const rows: [string, string, string][] = [
    ['as shown', 'ab3de-fg7hj', 'ab3defg7hj'],
    ['upper case, spaces', ' AB3DE FG7HJ ', 'ab3defg7hj'],
    ['o, i and l read as digits', 'oOiIlL', '001111'],
    ['a TOTP code with a space', '123 456', '123456'],
    ['too long to be a code: nothing', 'x'.repeat(65), ''],
  ];
  for (const [name, typed, normalized] of rows) {
    test(`normalizeCode: ${name}`, () => assert.equal(normalizeCode(typed), normalized));
  }

  test('the stored hash is keyed and bound to the user', () => {
    const key = createSecretKey(Buffer.alloc(32, 1));
    const other = createSecretKey(Buffer.alloc(32, 2));
    const h = hashRecoveryCode('u1', 'ab3defg7hj', key);
    assert.equal(h, hashRecoveryCode('u1', 'ab3defg7hj', key));
    assert.notEqual(h, hashRecoveryCode('u2', 'ab3defg7hj', key));
    assert.notEqual(h, hashRecoveryCode('u1', 'ab3defg7hj', other));
    assert.ok(!h.includes('ab3defg7hj'));
  });
});

describe('amr and acr of a one-time code', () => {
  test('after a password: pwd, otp and mfa', () => {
    assert.deepEqual(authenticationMethods({ password: true, otp: true }), {
      amr: ['pwd', 'otp', 'mfa'],
      acr: 'urn:idp:acr:mfa',
    });
  });
  test('without a password a code is one factor, not mfa', () => {
    assert.notEqual(authenticationMethods({ password: false, otp: true }).acr, 'urn:idp:acr:mfa');
  });
});
