import assert from 'node:assert/strict';
import { test } from 'node:test';
import introspectionRoute from 'oidc-provider/lib/actions/introspection.js';
import revocationRoute from 'oidc-provider/lib/actions/revocation.js';
import rejectStructuredTokens from 'oidc-provider/lib/shared/reject_structured_tokens.js';
import { answerJwtsInRoute } from '../../../src/oidc/jwt-access-tokens.ts';

// If an oidc-provider upgrade renames or moves the step that refuses JWTs, our JWTs are still
// answered (by the wrapper, after oidc-provider throws and renders its refusal), only slower:
// this makes such an upgrade fail here rather than pass unnoticed.
test('the JWT refusal step of introspection and revocation is replaced, once, in place', () => {
  for (const route of [introspectionRoute, revocationRoute]) {
    assert.ok(route.includes(rejectStructuredTokens), 'oidc-provider no longer has the step this replaces');
  }
  const lengths = [introspectionRoute.length, revocationRoute.length];
  answerJwtsInRoute();
  answerJwtsInRoute();
  for (const route of [introspectionRoute, revocationRoute]) {
    assert.ok(!route.includes(rejectStructuredTokens));
    assert.equal(route.filter((step) => (step as { name?: string }).name === 'answerOwnJwts').length, 1);
  }
  assert.deepEqual([introspectionRoute.length, revocationRoute.length], lengths);
});
