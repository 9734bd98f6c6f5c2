import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideAccountChange, STEP_UP_SECONDS } from '../../../src/services/account-changes.ts';

const now = 1_000_000;
const password = { amr: ['pwd'], authTime: now - 10 };
const passkey = { amr: ['pwd', 'hwk', 'user', 'mfa'], authTime: now - 10 };

describe('who may change the ways to sign in (decideAccountChange)', () => {
  test('regression: with a passkey on the account, a password-only session may not add, remove or toggle', () => {
    for (const change of ['add-passkey', 'remove-passkey', 'set-mfa'] as const) {
      assert.deepEqual(decideAccountChange(change, { secondFactors: 1, session: password, stepUpAt: undefined, now }), {
        allowed: false,
        reason: 'step_up_required',
      });
    }
  });

  test('regression: with a passkey on the account, a password-only session renamed it', () => {
    assert.deepEqual(
      decideAccountChange('rename-passkey', { secondFactors: 1, session: password, stepUpAt: undefined, now }),
      { allowed: false, reason: 'step_up_required' },
    );
  });

  test('a password change: free without a second factor, behind the step-up with one', () => {
    const facts = { session: password, stepUpAt: undefined, now };
    assert.deepEqual(decideAccountChange('change-password', { ...facts, secondFactors: 0 }), { allowed: true });
    assert.deepEqual(decideAccountChange('change-password', { ...facts, secondFactors: 1 }), {
      allowed: false,
      reason: 'step_up_required',
    });
    assert.equal(
      decideAccountChange('change-password', { ...facts, secondFactors: 1, stepUpAt: now - 60 }).allowed,
      true,
    );
  });

  test('a passkey at sign-in or in a step-up, within the last minutes, allows every change', () => {
    for (const change of ['add-passkey', 'remove-passkey', 'rename-passkey', 'set-mfa'] as const) {
      assert.equal(
        decideAccountChange(change, { secondFactors: 2, session: passkey, stepUpAt: undefined, now }).allowed,
        true,
      );
      assert.equal(
        decideAccountChange(change, { secondFactors: 2, session: password, stepUpAt: now - 60, now }).allowed,
        true,
      );
    }
  });

  test('the proof goes stale', () => {
    const old = now - STEP_UP_SECONDS - 1;
    const stale = { ...passkey, authTime: old };
    assert.equal(
      decideAccountChange('add-passkey', { secondFactors: 1, session: stale, stepUpAt: old, now }).allowed,
      false,
    );
  });

  test('without a second factor the first passkey may be enrolled with the password alone; MFA cannot be required', () => {
    assert.equal(
      decideAccountChange('add-passkey', { secondFactors: 0, session: password, stepUpAt: undefined, now }).allowed,
      true,
    );
    assert.deepEqual(
      decideAccountChange('set-mfa', { secondFactors: 0, session: password, stepUpAt: undefined, now }),
      {
        allowed: false,
        reason: 'no_second_factor',
      },
    );
  });

  test('an authenticator app counts as a second factor: its changes need a step-up like a passkey', () => {
    for (const change of ['add-totp', 'remove-totp', 'regenerate-recovery-codes', 'add-passkey'] as const) {
      assert.deepEqual(decideAccountChange(change, { secondFactors: 1, session: password, stepUpAt: undefined, now }), {
        allowed: false,
        reason: 'step_up_required',
      });
    }
  });

  test('a fresh sign-in with a one-time code (otp: the app or a recovery code) allows the changes, a stale one not', () => {
    const otp = { amr: ['pwd', 'otp', 'mfa'], authTime: now - 10 };
    for (const change of ['remove-totp', 'regenerate-recovery-codes', 'add-passkey', 'remove-passkey'] as const) {
      assert.equal(
        decideAccountChange(change, { secondFactors: 1, session: otp, stepUpAt: undefined, now }).allowed,
        true,
      );
    }
    const stale = { ...otp, authTime: now - STEP_UP_SECONDS - 1 };
    assert.equal(
      decideAccountChange('remove-totp', { secondFactors: 1, session: stale, stepUpAt: undefined, now }).allowed,
      false,
    );
  });

  test('the first authenticator app may be enrolled with the password alone (the bootstrap)', () => {
    assert.equal(
      decideAccountChange('add-totp', { secondFactors: 0, session: password, stepUpAt: undefined, now }).allowed,
      true,
    );
  });
});
