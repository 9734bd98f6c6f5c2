import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ACCOUNT_CLIENT_ID,
  ACR,
  authenticationMethods,
  createMfaDecision,
  type PasskeyFactor,
} from '../../../src/services/authentication-policy.ts';

const UV_DEVICE: PasskeyFactor = { userVerified: true, keyKind: 'hwk' };
const UV_SYNCED: PasskeyFactor = { userVerified: true, keyKind: 'swk' };
const NO_UV_DEVICE: PasskeyFactor = { userVerified: false, keyKind: 'hwk' };
const NO_UV_SYNCED: PasskeyFactor = { userVerified: false, keyKind: 'swk' };

describe('amr and acr for the factors used (RFC 8176 §2, OIDC Core §2)', () => {
  const rows: { rule: string; password: boolean; passkey?: PasskeyFactor; amr: string[]; acr: string }[] = [
    { rule: 'a password alone is one factor', password: true, amr: ['pwd'], acr: ACR.password },
    {
      rule: 'a device-bound passkey with user verification is multi-factor on its own',
      password: false,
      passkey: UV_DEVICE,
      amr: ['hwk', 'user', 'mfa'],
      acr: ACR.mfa,
    },
    {
      rule: 'a synced passkey with user verification is multi-factor on its own (swk)',
      password: false,
      passkey: UV_SYNCED,
      amr: ['swk', 'user', 'mfa'],
      acr: ACR.mfa,
    },
    {
      rule: 'a passkey without user verification is one factor: something you have',
      password: false,
      passkey: NO_UV_DEVICE,
      amr: ['hwk', 'user'],
      acr: ACR.passkey,
    },
    {
      rule: 'a password then a passkey is multi-factor even without user verification',
      password: true,
      passkey: NO_UV_SYNCED,
      amr: ['pwd', 'swk', 'user', 'mfa'],
      acr: ACR.mfa,
    },
    {
      rule: 'a password then a verified passkey is multi-factor',
      password: true,
      passkey: UV_DEVICE,
      amr: ['pwd', 'hwk', 'user', 'mfa'],
      acr: ACR.mfa,
    },
  ];
  for (const row of rows) {
    it(row.rule, () => {
      assert.deepEqual(authenticationMethods({ password: row.password, passkey: row.passkey }), {
        amr: row.amr,
        acr: row.acr,
      });
    });
  }
});

describe('whether an authorization request needs a second factor', () => {
  const USER = 'user-1';
  const claims = (acr: unknown) => JSON.stringify({ id_token: { acr } });
  const rows: {
    rule: string;
    global?: boolean;
    clientId?: string;
    clientRequiresMfa?: boolean;
    params?: Record<string, unknown>;
    userId?: string;
    userRequires?: boolean;
    hasSecondFactor?: boolean;
    mfa: boolean;
  }[] = [
    { rule: 'nothing asks for it: no', userId: USER, mfa: false },
    { rule: 'before sign-in, nothing asks for it: no', mfa: false },
    { rule: "the client's require_mfa: yes", clientRequiresMfa: true, mfa: true },
    { rule: 'MFA_REQUIRED: yes for any client', global: true, clientId: 'app', mfa: true },
    {
      rule: 'MFA_REQUIRED spares the account page while the user has no second factor (to enrol one)',
      global: true,
      clientId: ACCOUNT_CLIENT_ID,
      userId: USER,
      hasSecondFactor: false,
      mfa: false,
    },
    {
      rule: 'MFA_REQUIRED spares the account page before sign-in (the user is not known yet)',
      global: true,
      clientId: ACCOUNT_CLIENT_ID,
      hasSecondFactor: true,
      mfa: false,
    },
    {
      rule: 'MFA_REQUIRED: the account page once the user has a second factor: yes',
      global: true,
      clientId: ACCOUNT_CLIENT_ID,
      userId: USER,
      hasSecondFactor: true,
      mfa: true,
    },
    {
      rule: 'without MFA_REQUIRED the account page follows the user, not the factors held',
      clientId: ACCOUNT_CLIENT_ID,
      userId: USER,
      hasSecondFactor: true,
      mfa: false,
    },
    {
      rule: 'acr_values naming mfa (OIDC Core §3.1.2.1): yes',
      params: { acr_values: `${ACR.password} ${ACR.mfa}` },
      mfa: true,
    },
    { rule: 'acr_values without mfa: no', params: { acr_values: `${ACR.password} ${ACR.passkey}` }, mfa: false },
    {
      rule: 'acr_values is matched as a whole value, not a substring',
      params: { acr_values: `${ACR.mfa}x` },
      mfa: false,
    },
    {
      rule: 'claims acr value mfa (OIDC Core §5.5.1.1): yes',
      params: { claims: claims({ value: ACR.mfa }) },
      mfa: true,
    },
    {
      rule: 'claims acr values including mfa: yes',
      params: { claims: claims({ values: [ACR.password, ACR.mfa] }) },
      mfa: true,
    },
    { rule: 'claims acr of another class: no', params: { claims: claims({ value: ACR.password }) }, mfa: false },
    { rule: 'claims that are not JSON: no (not a crash)', params: { claims: '{not json' }, mfa: false },
    {
      rule: 'claims that are not a string: ignored',
      params: { claims: { id_token: { acr: { value: ACR.mfa } } } },
      mfa: false,
    },
    { rule: "the user's own setting: yes", userId: USER, userRequires: true, mfa: true },
    { rule: "the user's own setting is not read before sign-in", userRequires: true, mfa: false },
  ];
  for (const row of rows) {
    it(row.rule, async () => {
      const decide = createMfaDecision({
        global: row.global ?? false,
        userRequires: async (id) => id === USER && row.userRequires === true,
        hasSecondFactor: async (id) => id === USER && row.hasSecondFactor === true,
      });
      const request = {
        clientId: row.clientId ?? 'app',
        clientRequiresMfa: row.clientRequiresMfa ?? false,
        params: row.params ?? {},
      };
      assert.equal(await decide(request, row.userId), row.mfa);
    });
  }
});
