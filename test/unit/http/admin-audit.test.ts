import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type AdminDeps, createAdminRouter } from '../../../src/http/admin/router.ts';
import { basicClientId } from '../../../src/oidc/observe.ts';

describe('admin change event types', () => {
  // the deps are never called while the routes are declared
  const router = createAdminRouter({
    issuer: 'https://idp.example',
    audience: 'https://idp.example/admin',
    security: {},
  } as unknown as AdminDeps);
  /** `METHOD path` -> the event type its scope check declares */
  const declared = new Map(
    router.stack
      .filter((layer) => layer.methods.some((m) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(m)))
      .filter((layer) => layer.name !== 'not-found')
      .map((layer) => {
        const scoped = layer.stack.find((fn) => 'requiredScope' in fn) as { auditEvent?: string } | undefined;
        const method = layer.methods.find((m) => m !== 'HEAD');
        return [`${method} ${layer.path}`, scoped?.auditEvent];
      }),
  );

  test('regression: every admin route that changes something declares its event type next to its scope', () => {
    assert.deepEqual(Object.fromEntries(declared), {
      'POST /admin/clients': 'client.created',
      'PATCH /admin/clients/:id': 'client.updated',
      'DELETE /admin/clients/:id': 'client.deleted',
      'POST /admin/clients/:id/secret': 'client.secret_rotated',
      'POST /admin/clients/:id/secrets': 'client.secret_added',
      'DELETE /admin/clients/:id/secrets/:secretId': 'client.secret_removed',
      'POST /admin/federated-issuers': 'federated_issuer.created',
      'PATCH /admin/federated-issuers/:id': 'federated_issuer.updated',
      'DELETE /admin/federated-issuers/:id': 'federated_issuer.deleted',
      'POST /admin/resources': 'resource.created',
      'PATCH /admin/resources/:id': 'resource.updated',
      'DELETE /admin/resources/:id': 'resource.deleted',
      'POST /admin/users': 'user.created',
      'PATCH /admin/users/:id': 'user.updated',
      'DELETE /admin/users/:id': 'user.deleted',
      'POST /admin/users/:id/unlock': 'user.unlocked',
      'POST /admin/users/:id/password-reset': 'password.reset_requested',
      'DELETE /admin/users/:id/passkeys/:passkeyId': 'passkey.removed',
      'DELETE /admin/users/:id/mfa': 'mfa.reset',
      'DELETE /admin/users/:id/sessions': 'session.revoked',
      'DELETE /admin/users/:id/sessions/:sessionId': 'session.revoked',
      'POST /admin/roles': 'role.created',
      'PATCH /admin/roles/:id': 'role.updated',
      'DELETE /admin/roles/:id': 'role.deleted',
      'POST /admin/initial-access-tokens': 'initial_access_token.created',
      'POST /admin/keys/rotate': 'key.rotated',
    });
  });

  test('regression: removing a passkey is passkey.removed, not a type parsed from the route (user.passkeys)', () => {
    assert.equal(declared.get('DELETE /admin/users/:id/passkeys/:passkeyId'), 'passkey.removed');
  });
});

describe('the client id of an HTTP Basic header', () => {
  test('is form-decoded (RFC 6749 §2.3.1) and never throws', () => {
    const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
    assert.equal(basicClientId(basic('my%20client:secret')), 'my client');
    assert.equal(basicClientId(basic('a+b:secret')), 'a b');
    assert.equal(basicClientId(basic('%zz:secret')), undefined);
    assert.equal(basicClientId(basic('no-colon')), undefined);
    assert.equal(basicClientId(basic(':secret')), undefined);
    assert.equal(basicClientId('Bearer abc'), undefined);
    assert.equal(basicClientId(''), undefined);
  });
});
