import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACR } from '../../../src/services/authentication-policy.ts';
import {
  ABORTED,
  afterPasskey,
  afterPassword,
  mayOffer,
  NO_SECOND_FACTOR,
  type PasskeyFacts,
  type PasswordFacts,
  type ShowFacts,
  type Step,
  stepOf,
} from '../../../src/services/signin-steps.ts';

const show = (over: Partial<ShowFacts>): ShowFacts => ({
  prompt: 'login',
  pending: undefined,
  stepUp: false,
  passkeys: 0,
  firstParty: false,
  ...over,
});

describe('the sign-in flow: the step an interaction is at when its page opens', () => {
  const rows: [string, Partial<ShowFacts>, Step][] = [
    ['a fresh login prompt: the login form', {}, { name: 'login' }],
    [
      'a password given, a second factor pending',
      { pending: 'second-factor' },
      { name: 'passkey', mode: 'second-factor' },
    ],
    ['a password given, the passkey offer pending', { pending: 'offer' }, { name: 'passkey', mode: 'offer' }],
    ['a pending step wins over a step-up', { pending: 'offer', stepUp: true }, { name: 'passkey', mode: 'offer' }],
    [
      'a session lacking a demanded second factor, with a passkey',
      { stepUp: true, passkeys: 2 },
      { name: 'passkey', mode: 'second-factor' },
    ],
    ['a session lacking a demanded second factor, without a passkey', { stepUp: true, passkeys: 0 }, NO_SECOND_FACTOR],
    [
      'a session lacking a demanded second factor, with an authenticator app only',
      { stepUp: true, passkeys: 0, totp: true },
      { name: 'passkey', mode: 'second-factor' },
    ],
    [
      'consent for a third-party client: the consent page',
      { prompt: 'consent' },
      { name: 'consent', accountName: undefined },
    ],
    [
      'consent for a first-party client: granted without asking',
      { prompt: 'consent', firstParty: true },
      { name: 'grant' },
    ],
    ['a prompt with no page here', { prompt: 'select_account' }, { name: 'unsupported', prompt: 'select_account' }],
    [
      'a pending step does not leak into consent',
      { prompt: 'consent', pending: 'offer' },
      { name: 'consent', accountName: undefined },
    ],
  ];
  for (const [title, facts, step] of rows) {
    it(title, () => assert.deepEqual(stepOf(show(facts)), step));
  }
});

const password = (over: Partial<PasswordFacts>): PasswordFacts => ({
  accountId: 'u1',
  mfaRequired: false,
  passkeys: 0,
  passkeyCapable: false,
  ...over,
});
const pwdLogin = { accountId: 'u1', amr: ['pwd'], acr: ACR.password };

describe('the sign-in flow: the step after a correct password', () => {
  const rows: [string, Partial<PasswordFacts>, Step][] = [
    ['no second factor demanded, no passkey-capable browser: signed in', {}, { name: 'finish', login: pwdLogin }],
    [
      'no second factor demanded, a passkey already: signed in',
      { passkeys: 1, passkeyCapable: true },
      { name: 'finish', login: pwdLogin },
    ],
    [
      'a passkey-capable browser and no passkey: the offer',
      { passkeyCapable: true },
      { name: 'passkey', mode: 'offer' },
    ],
    [
      'a second factor demanded and a passkey: the second factor',
      { mfaRequired: true, passkeys: 1 },
      { name: 'passkey', mode: 'second-factor' },
    ],
    [
      'a second factor demanded and no passkey: unmet_authentication_requirements',
      { mfaRequired: true },
      NO_SECOND_FACTOR,
    ],
    [
      'a second factor demanded and an authenticator app only: the second factor (a code)',
      { mfaRequired: true, totp: true },
      { name: 'passkey', mode: 'second-factor' },
    ],
    [
      'an authenticator app and no passkey: no passkey offer in place of the code',
      { totp: true, passkeyCapable: true },
      { name: 'finish', login: pwdLogin },
    ],
    [
      'a second factor demanded is never replaced by the offer',
      { mfaRequired: true, passkeyCapable: true },
      NO_SECOND_FACTOR,
    ],
  ];
  for (const [title, facts, step] of rows) {
    it(title, () => assert.deepEqual(afterPassword(password(facts)), step));
  }
});

const proof = (over: Partial<PasskeyFacts['proof']> = {}): PasskeyFacts['proof'] => ({
  userId: 'u1',
  userVerified: true,
  keyKind: 'swk',
  ...over,
});

describe('the sign-in flow: what a verified passkey does', () => {
  const rows: [string, PasskeyFacts, ReturnType<typeof afterPasskey>][] = [
    [
      'passwordless with user verification: multi-factor',
      { proof: proof(), pending: undefined, mfaRequired: true },
      { ok: true, secondFactor: false, login: { accountId: 'u1', amr: ['swk', 'user', 'mfa'], acr: ACR.mfa } },
    ],
    [
      'passwordless without user verification, nothing demanded: a passkey sign-in',
      { proof: proof({ userVerified: false, keyKind: 'hwk' }), pending: undefined, mfaRequired: false },
      { ok: true, secondFactor: false, login: { accountId: 'u1', amr: ['hwk', 'user'], acr: ACR.passkey } },
    ],
    [
      'passwordless without user verification where MFA is demanded: refused',
      { proof: proof({ userVerified: false }), pending: undefined, mfaRequired: true },
      { ok: false, reason: 'verification_required' },
    ],
    [
      'the second factor after a password: multi-factor even without user verification',
      {
        proof: proof({ userVerified: false, keyKind: 'hwk' }),
        pending: { accountId: 'u1', password: true, mode: 'second-factor' },
        mfaRequired: true,
      },
      { ok: true, secondFactor: true, login: { accountId: 'u1', amr: ['pwd', 'hwk', 'user', 'mfa'], acr: ACR.mfa } },
    ],
    [
      'the second factor from another account than the password: refused',
      {
        proof: proof({ userId: 'u2' }),
        pending: { accountId: 'u1', password: true, mode: 'second-factor' },
        mfaRequired: true,
      },
      { ok: false, reason: 'wrong_user' },
    ],
    [
      'a step-up of a passkey session (no password in it) needs user verification where MFA is demanded',
      {
        proof: proof({ userVerified: false }),
        pending: { accountId: 'u1', password: false, mode: 'second-factor' },
        mfaRequired: true,
      },
      { ok: false, reason: 'verification_required' },
    ],
    [
      'a pending offer does not make a passkey a second factor',
      {
        proof: proof({ userId: 'u2', userVerified: true }),
        pending: { accountId: 'u1', password: true, mode: 'offer' },
        mfaRequired: false,
      },
      { ok: true, secondFactor: false, login: { accountId: 'u2', amr: ['swk', 'user', 'mfa'], acr: ACR.mfa } },
    ],
  ];
  for (const [title, facts, outcome] of rows) {
    it(title, () => assert.deepEqual(afterPasskey(facts), outcome));
  }
});

describe('the sign-in flow: the offer to add a passkey', () => {
  const offer = { accountId: 'u1', password: true, mode: 'offer' } as const;
  const rows: [string, Parameters<typeof mayOffer>[0], number, boolean][] = [
    ['stands while the account has no passkey', offer, 0, true],
    ['ends once a passkey was added (in another tab)', offer, 1, false],
    ['is not a second-factor step', { ...offer, mode: 'second-factor' }, 0, false],
    ['needs a pending sign-in', undefined, 0, false],
  ];
  for (const [title, pending, passkeys, allowed] of rows) {
    it(title, () => assert.equal(mayOffer(pending, passkeys, 1_700_000_000), allowed));
  }

  it('cancelling ends the interaction with access_denied', () =>
    assert.deepEqual(ABORTED, { name: 'refuse', error: 'access_denied', description: 'End-User aborted interaction' }));
});
