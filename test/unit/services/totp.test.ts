import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  base32Decode,
  base32Encode,
  generateTotpSecret,
  hotp,
  matchTotp,
  otpauthUri,
  totpCode,
} from '../../../src/services/totp.ts';

describe('HOTP and TOTP', () => {
  test('RFC 4226 appendix D: HOTP values of counters 0 to 9', () => {
    const secret = Buffer.from('12345678901234567890');
    const expected = [
      '755224',
      '287082',
      '359152',
      '969429',
      '338314',
      '254676',
      '287922',
      '162583',
      '399871',
      '520489',
    ];
    assert.deepEqual(
      expected.map((_, counter) => hotp(secret, counter)),
      expected,
    );
  });

  // RFC 6238 appendix B: 8 digits, each algorithm with its own seed
  const vectors: [number, string, string, string][] = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ];
  const seeds = {
    sha1: Buffer.from('12345678901234567890'),
    sha256: Buffer.from('12345678901234567890123456789012'),
    sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
  };
  for (const [time, sha1, sha256, sha512] of vectors) {
    test(`RFC 6238 appendix B at T=${time}`, () => {
      assert.equal(totpCode(seeds.sha1, time, 8, 'sha1'), sha1);
      assert.equal(totpCode(seeds.sha256, time, 8, 'sha256'), sha256);
      assert.equal(totpCode(seeds.sha512, time, 8, 'sha512'), sha512);
    });
  }

  test('the six-digit code is the last six digits of the RFC value (what apps show)', () => {
    assert.equal(totpCode(seeds.sha1, 59), '287082');
    assert.equal(totpCode(seeds.sha1, 1111111109), '081804');
  });
});

describe('matchTotp: window and reuse', () => {
  const secret = Buffer.from('12345678901234567890');
  const now = 1_800_000_015; // step 60_000_000, 15 s in
  const step = 60_000_000;
  const codeAt = (s: number) => hotp(secret, s);

  const cases: [string, string, number, number | undefined][] = [
    ['the current step', codeAt(step), -1, step],
    ['one step behind (clock drift)', codeAt(step - 1), -1, step - 1],
    ['one step ahead', codeAt(step + 1), -1, step + 1],
    ['two steps behind: outside the window', codeAt(step - 2), -1, undefined],
    ['two steps ahead: outside the window', codeAt(step + 2), -1, undefined],
    ['the step already used', codeAt(step), step, undefined],
    ['an earlier step after a later one was used', codeAt(step - 1), step, undefined],
    ['a later step after an earlier one was used', codeAt(step + 1), step, step + 1],
    ['five digits', codeAt(step).slice(1), -1, undefined],
    ['seven digits', `${codeAt(step)}0`, -1, undefined],
    ['not digits', 'abcdef', -1, undefined],
    ['full-width digits', '１２３４５６', -1, undefined],
  ];
  for (const [name, code, lastStep, expected] of cases) {
    test(name, () => assert.equal(matchTotp(secret, code, now, lastStep), expected));
  }

  test('a wrong code of the right shape is refused', () => {
    const wrong = String((Number(codeAt(step)) + 1) % 1_000_000).padStart(6, '0');
    const inWindow = [step - 1, step, step + 1].map(codeAt);
    if (!inWindow.includes(wrong)) assert.equal(matchTotp(secret, wrong, now, -1), undefined);
  });
});

describe('base32 and the otpauth URI', () => {
  test('RFC 4648 §10 vectors (without padding)', () => {
    const pairs: [string, string][] = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [plain, encoded] of pairs) {
      assert.equal(base32Encode(Buffer.from(plain)), encoded);
      assert.equal(base32Decode(encoded).toString(), plain);
      assert.equal(base32Decode(`${encoded.toLowerCase()}====`).toString(), plain);
    }
    assert.throws(() => base32Decode('MZ1W'));
  });

  test('a secret is 160 random bits, round-tripping through base32', () => {
    const a = generateTotpSecret();
    assert.equal(a.length, 20);
    assert.equal(base32Encode(a).length, 32);
    assert.deepEqual(base32Decode(base32Encode(a)), a);
    assert.notDeepEqual(generateTotpSecret(), a);
  });

  test('the URI names issuer and account, with the parameters apps expect', () => {
    const uri = new URL(otpauthUri(Buffer.from('12345678901234567890'), 'My IdP', 'ann@example.com'));
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.host, 'totp');
    assert.equal(decodeURIComponent(uri.pathname), '/My IdP:ann@example.com');
    assert.equal(uri.searchParams.get('secret'), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    assert.equal(uri.searchParams.get('issuer'), 'My IdP');
    assert.equal(uri.searchParams.get('digits'), '6');
    assert.equal(uri.searchParams.get('period'), '30');
    assert.equal(uri.searchParams.get('algorithm'), 'SHA1');
  });
});
