import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addressKey } from '../../../src/services/client-address.ts';

describe('addressKey', () => {
  test('keeps IPv4 as it is and maps IPv4-mapped IPv6 to it', () => {
    assert.equal(addressKey('10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('::FFFF:a01:203'), '10.1.2.3');
  });

  test('keys IPv6 by its /64, however it is written', () => {
    const key = '2001:db8:0:1::/64';
    for (const ip of [
      '2001:db8:0:1::1',
      '2001:DB8::1:ffff:1:2:3',
      '2001:0db8:0000:0001:0:0:0:0',
      '2001:db8:0:1::1.2.3.4',
    ]) {
      assert.equal(addressKey(ip), key, ip);
    }
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.notEqual(addressKey('2001:db8:0:1::1'), addressKey('2001:db8:0:2::1'));
  });

  test('leaves anything that is not an address alone', () => {
    assert.equal(addressKey(''), '');
    assert.equal(addressKey('not an address'), 'not an address');
    assert.equal(addressKey('2001:db8::g'), '2001:db8::g');
  });
});
