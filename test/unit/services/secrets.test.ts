import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  deriveKeys,
  generateClientSecret,
  hashClientSecret,
  seal,
  secretHashBytes,
  unseal,
} from '../../../src/services/secrets.ts';

const keys = deriveKeys('a-secrets-key-of-at-least-thirty-two-chars');

describe('secrets', () => {
  test('derived keys differ by purpose and are stable', () => {
    const again = deriveKeys('a-secrets-key-of-at-least-thirty-two-chars');
    assert.deepEqual(again.keyEncryption, keys.keyEncryption);
    assert.notDeepEqual(keys.keyEncryption, keys.clientSecretHmac);
    assert.notDeepEqual(keys.clientSecretHmac, keys.csrf);
  });

  test('seal and unseal; another context or key cannot open it', () => {
    const sealed = seal('{"d":"private"}', keys.keyEncryption, 'kid-1');
    assert.ok(!sealed.includes('private'));
    assert.equal(unseal(sealed, keys.keyEncryption, 'kid-1'), '{"d":"private"}');
    assert.throws(() => unseal(sealed, keys.keyEncryption, 'kid-2'));
    assert.throws(() => unseal(sealed, deriveKeys('another-key-of-at-least-32-characters').keyEncryption, 'kid-1'));
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}A`;
    assert.throws(() => unseal(tampered, keys.keyEncryption, 'kid-1'));
  });

  test('client secrets carry 256 bits and are verified against their hash only', () => {
    const secret = generateClientSecret();
    assert.match(secret, /^[\w-]{43}$/);
    assert.notEqual(generateClientSecret(), secret);
    const hash = hashClientSecret(secret, keys.clientSecretHmac);
    assert.ok(!hash.includes(secret));
    assert.equal(secretHashBytes(hash)?.length, 32);
    assert.deepEqual(secretHashBytes(hashClientSecret(secret, keys.clientSecretHmac)), secretHashBytes(hash));
    assert.notDeepEqual(secretHashBytes(hashClientSecret(`${secret}x`, keys.clientSecretHmac)), secretHashBytes(hash));
    assert.notDeepEqual(
      secretHashBytes(hashClientSecret(secret, deriveKeys('z'.repeat(40)).clientSecretHmac)),
      secretHashBytes(hash),
    );
    assert.equal(secretHashBytes(secret), undefined, 'a plaintext is never a hash');
    assert.equal(secretHashBytes('hmac-sha256$short'), undefined);
  });
});
