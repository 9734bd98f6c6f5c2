import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Argon2Params,
  argon2Hasher,
  createLimiter,
  createPasswordService,
  dummyArgon2idHash,
  type Hasher,
  loadCommonPasswords,
  OWASP_ARGON2ID,
} from '../../../src/services/passwords.ts';

const FAST: Argon2Params = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

/** the real argon2, counting calls */
function countingHasher() {
  const calls = { hash: 0, verify: 0 };
  const hasher: Hasher = {
    hash: (p, params) => {
      calls.hash++;
      return argon2Hasher.hash(p, params);
    },
    verify: (h, p) => {
      calls.verify++;
      return argon2Hasher.verify(h, p);
    },
    needsRehash: argon2Hasher.needsRehash,
  };
  return { hasher, calls };
}

describe('password policy (NIST SP 800-63B)', () => {
  const passwords = createPasswordService({ params: FAST });

  it('refuses fewer than 8 characters, counting code points', () => {
    assert.deepEqual(
      { ...passwords.check('short1!'), message: undefined },
      { ok: false, code: 'password_too_short', message: undefined },
    );
    // 7 emoji are 14 UTF-16 units but 7 characters
    const check = passwords.check('😀😀😀😀😀😀😀');
    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.code, 'password_too_short');
    assert.equal(passwords.check('😀😀😀😀😀😀😀😀').ok, true);
  });

  it('refuses more than 1024 characters', () => {
    assert.equal(passwords.check('a b'.repeat(341)).ok, true); // 1023
    const check = passwords.check('x'.repeat(1025));
    assert.equal(!check.ok && check.code, 'password_too_long');
  });

  it('refuses common passwords, whatever their case', () => {
    for (const common of ['password', 'Password1', 'QWERTY123', '12345678', 'iloveyou1']) {
      const check = passwords.check(common);
      assert.equal(!check.ok && check.code, 'password_too_common', common);
    }
  });

  it('refuses the username or the email as password', () => {
    const byName = passwords.check('Alice.Liddell', { username: 'alice.liddell' });
    assert.equal(!byName.ok && byName.code, 'password_is_identifier');
    const byEmail = passwords.check('alice@example.org', { username: 'alice', email: 'Alice@Example.org' });
    assert.equal(!byEmail.ok && byEmail.code, 'password_is_identifier');
  });

  it('accepts long passphrases with spaces and any script, with no composition rules', () => {
    assert.deepEqual(passwords.check('correct horse battery staple'), { ok: true });
    assert.deepEqual(passwords.check('Zwölf Boxkämpfer jagen Viktor quer über den Sylter Deich'), { ok: true });
    assert.deepEqual(passwords.check('пароль для проверки'), { ok: true });
    assert.deepEqual(passwords.check('すもももももももものうち'), { ok: true });
    assert.deepEqual(passwords.check('alllowercaseletters'), { ok: true });
  });

  it('gives a human message with every refusal', () => {
    const check = passwords.check('abc');
    assert.ok(!check.ok && check.message.length > 10);
  });

  it('ships a list of about a thousand common passwords', () => {
    const list = loadCommonPasswords();
    assert.ok(list.size >= 900, `only ${list.size}`);
    for (const word of list) assert.equal(word, word.toLowerCase());
  });
});

describe('password hashing', () => {
  it('uses OWASP argon2id parameters by default', () => {
    assert.deepEqual({ ...OWASP_ARGON2ID }, { memoryCost: 19456, timeCost: 2, parallelism: 1 });
  });

  it('hashes with argon2id and verifies', async () => {
    const passwords = createPasswordService({ params: FAST });
    const hash = await passwords.hash('correct horse battery staple');
    assert.match(hash, /^\$argon2id\$v=19\$/);
    assert.match(hash, /[$,]m=1024[,$]/);
    assert.deepEqual(await passwords.verify(hash, 'correct horse battery staple'), { ok: true, needsRehash: false });
    assert.deepEqual(await passwords.verify(hash, 'correct horse battery stapler'), { ok: false, needsRehash: false });
  });

  it('reports needsRehash when the stored parameters differ from the current ones', async () => {
    const old = createPasswordService({ params: FAST });
    const current = createPasswordService({ params: { memoryCost: 2048, timeCost: 1, parallelism: 1 } });
    const hash = await old.hash('correct horse battery staple');
    assert.deepEqual(await current.verify(hash, 'correct horse battery staple'), { ok: true, needsRehash: true });
    // a wrong password never asks for a rehash
    assert.deepEqual(await current.verify(hash, 'wrong horse'), { ok: false, needsRehash: false });
  });

  it('treats a malformed stored hash as a failed verification', async () => {
    const passwords = createPasswordService({ params: FAST });
    assert.deepEqual(await passwords.verify('not-a-hash', 'whatever'), { ok: false, needsRehash: false });
  });

  it('verifies against a dummy hash when there is no stored hash (unknown user)', async () => {
    const { hasher, calls } = countingHasher();
    const passwords = createPasswordService({ params: FAST, hasher });
    await new Promise((r) => setImmediate(r));
    const before = calls.verify;
    assert.deepEqual(await passwords.verify(undefined, 'anything at all'), { ok: false, needsRehash: false });
    assert.deepEqual(await passwords.verify(null, 'anything at all'), { ok: false, needsRehash: false });
    assert.equal(calls.verify - before, 2);
    // the dummy hash is not computed: building the service hashes nothing
    assert.equal(calls.hash, 0);
  });

  it('makes a dummy hash that argon2 reads with the current parameters and no password matches', async () => {
    const dummy = dummyArgon2idHash(FAST);
    const real = await argon2Hasher.hash('anything at all', FAST);
    // argon2's own encoding: the same parameters in its order, salt and output of its lengths
    const fields = (h: string) => h.split('$').map((part, i) => (i < 4 ? part : part.length));
    assert.deepEqual(fields(dummy), fields(real));
    assert.equal(argon2Hasher.needsRehash(dummy, FAST), false);
    assert.equal(await argon2Hasher.verify(dummy, 'anything at all'), false);
    assert.equal(await argon2Hasher.verify(dummy, ''), false);
    assert.notEqual(dummyArgon2idHash(FAST), dummy);
  });

  it('costs about the same for an unknown user as for a wrong password', async () => {
    const params = { memoryCost: 8192, timeCost: 2, parallelism: 1 };
    const passwords = createPasswordService({ params });
    const hash = await passwords.hash('correct horse battery staple');
    await passwords.verify(undefined, 'warm up');
    const time = async (fn: () => Promise<unknown>) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < 5; i++) await fn();
      return Number(process.hrtime.bigint() - start);
    };
    const wrong = await time(() => passwords.verify(hash, 'wrong password'));
    const unknown = await time(() => passwords.verify(undefined, 'wrong password'));
    // generous bounds: the point is that the unknown path does real argon2 work, not a fast "no"
    assert.ok(unknown > wrong / 4, `unknown user ${unknown}ns vs wrong password ${wrong}ns`);
    assert.ok(unknown < wrong * 4, `unknown user ${unknown}ns vs wrong password ${wrong}ns`);
  });
});

describe('createLimiter', () => {
  it('never runs more than its maximum at once, and runs everything in order', async () => {
    const limit = createLimiter(2);
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        limit(async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 5 + (i % 3)));
          running--;
          done.push(i);
        }),
      ),
    );
    assert.equal(peak, 2);
    assert.equal(done.length, 8);
    await assert.rejects(
      limit(async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await limit(async () => 'still works'), 'still works', 'a failed task frees its slot');
  });
});
