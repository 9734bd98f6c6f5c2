import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import argon2 from 'argon2';

/** argon2id cost parameters. */
export interface Argon2Params {
  /** KiB */
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

/**
 * OWASP Password Storage Cheat Sheet, argon2id option 5: m=19 MiB, t=2, p=1 (about 25 ms here).
 * Tests pass cheaper ones; production never should.
 */
export const OWASP_ARGON2ID: Argon2Params = Object.freeze({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });

/**
 * The primitive the service is built on, injectable so a test can count calls.
 * The default runs argon2 on libuv's thread pool, so hashing never blocks the event loop.
 */
export interface Hasher {
  hash(password: string, params: Argon2Params): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** true when `hash` was not made with argon2id and exactly `params` */
  needsRehash(hash: string, params: Argon2Params): boolean;
}

/**
 * argon2 runs on libuv's thread pool (4 threads by default), which is also where token signing
 * (WebCrypto) runs. With every pool thread busy hashing, token requests would queue behind
 * passwords; no more hashes at once than there are cores keeps threads free for signing, and
 * costs the hashing nothing (it is CPU-bound: more at once than cores only time-shares).
 */
const hashing = createLimiter(Math.max(1, Math.min(availableParallelism(), 3)));

export const argon2Hasher: Hasher = {
  hash: (password, params) => hashing(() => argon2.hash(password, { type: argon2.argon2id, ...params })),
  async verify(hash, password) {
    try {
      return await hashing(() => argon2.verify(hash, password));
    } catch {
      // a malformed stored hash is a failed verification, not a crash
      return false;
    }
  },
  needsRehash(hash, params) {
    if (!hash.startsWith('$argon2id$')) return true;
    try {
      return argon2.needsRehash(hash, params);
    } catch {
      return true;
    }
  },
};

/**
 * An argon2id hash in argon2's own encoding (PHC string, its parameter order) with random salt and
 * output, of argon2's default lengths: verifying a password against it does a full argon2id run
 * with `params` and never succeeds.
 */
export function dummyArgon2idHash(params: Argon2Params): string {
  // PHC strings use standard base64 without padding
  const b64 = (bytes: number) => randomBytes(bytes).toString('base64').replace(/=+$/, '');
  const { memoryCost: m, timeCost: t, parallelism: p } = params;
  return `$argon2id$v=19$m=${m},p=${p},t=${t}$${b64(16)}$${b64(32)}`;
}

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 1024;

/** Why a password was refused; stable, so callers can `switch` on it. */
export type PasswordPolicyCode =
  | 'password_too_short'
  | 'password_too_long'
  | 'password_too_common'
  | 'password_is_identifier';

export type PasswordPolicyResult = { ok: true } | { ok: false; code: PasswordPolicyCode; message: string };

export interface PasswordVerification {
  ok: boolean;
  /** the password was right but the stored hash used other parameters: store `hash(password)` now */
  needsRehash: boolean;
}

export interface PasswordService {
  /** argon2id with the current parameters; does not check the policy (see `check`) */
  hash(password: string): Promise<string>;
  /**
   * Verifies `password` against `hash`. With no hash (unknown user, or a user without a password)
   * it verifies against a dummy hash of the same cost and answers `ok: false`, so that the
   * caller's timing does not tell whether the account exists.
   */
  verify(hash: string | null | undefined, password: string): Promise<PasswordVerification>;
  /**
   * NIST SP 800-63B §3.1.1.2: length 8..1024 code points, no composition rules, refuse common
   * passwords and ones equal to the account's identifiers.
   */
  check(password: string, identifiers?: { username?: string | null; email?: string | null }): PasswordPolicyResult;
}

const COMMON_PASSWORDS_FILE = new URL('./common-passwords.txt', import.meta.url);

/** Reads the shipped list: one password a line, compared lower-cased. */
export function loadCommonPasswords(file: URL | string = COMMON_PASSWORDS_FILE): ReadonlySet<string> {
  const words = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim().toLowerCase())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return new Set(words);
}

export interface PasswordServiceOptions {
  params?: Argon2Params;
  hasher?: Hasher;
  commonPasswords?: ReadonlySet<string>;
}

/**
 * @example
 * const passwords = createPasswordService(); // OWASP parameters
 * const fast = createPasswordService({ params: { memoryCost: 1024, timeCost: 1, parallelism: 1 } }); // tests
 */
export function createPasswordService(options: PasswordServiceOptions = {}): PasswordService {
  const params = Object.freeze({ ...(options.params ?? OWASP_ARGON2ID) });
  const hasher = options.hasher ?? argon2Hasher;
  const common = options.commonPasswords ?? loadCommonPasswords();

  // What an unknown user's password is verified against, so that it costs what verifying a real
  // user's password costs: an argon2id hash with the current parameters whose salt and output are
  // random bytes. No password matches it (that would take a preimage of 256 random bits), and
  // making it costs no hash: a hash computed at start held its 19 MiB in the allocator for the
  // life of the process.
  const dummy = dummyArgon2idHash(params);

  return {
    hash: (password) => hasher.hash(password, params),

    async verify(hash, password) {
      if (hash === null || hash === undefined || hash === '') {
        await hasher.verify(dummy, password);
        return { ok: false, needsRehash: false };
      }
      const ok = await hasher.verify(hash, password);
      return { ok, needsRehash: ok && hasher.needsRehash(hash, params) };
    },

    check(password, identifiers = {}) {
      // code points, not UTF-16 units: an emoji counts as one character (SP 800-63B §5.1.1.2)
      const length = [...password].length;
      if (length < PASSWORD_MIN_LENGTH) {
        return {
          ok: false,
          code: 'password_too_short',
          message: `The password must be at least ${PASSWORD_MIN_LENGTH} characters long.`,
        };
      }
      if (length > PASSWORD_MAX_LENGTH) {
        return {
          ok: false,
          code: 'password_too_long',
          message: `The password must be at most ${PASSWORD_MAX_LENGTH} characters long.`,
        };
      }
      const folded = password.normalize('NFKC').toLowerCase();
      if (common.has(folded)) {
        return {
          ok: false,
          code: 'password_too_common',
          message: 'This password is too common and easy to guess. Choose another one.',
        };
      }
      for (const identifier of [identifiers.username, identifiers.email]) {
        if (identifier && folded === identifier.normalize('NFKC').toLowerCase()) {
          return {
            ok: false,
            code: 'password_is_identifier',
            message: 'The password must not be your username or email address.',
          };
        }
      }
      return { ok: true };
    },
  };
}

/** Runs at most `max` of the given tasks at once; the others wait their turn in order. */
export function createLimiter(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  // a finishing task hands its slot straight to the next waiter, so none can slip in between
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return async (task) => {
    if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      release();
    }
  };
}
