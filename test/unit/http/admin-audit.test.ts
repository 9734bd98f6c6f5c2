import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { changeType } from '../../../src/http/admin/audit.ts';
import { basicClientId } from '../../../src/oidc/observe.ts';

describe('admin change event types', () => {
  test('are derived from the route pattern and the method', () => {
    assert.equal(changeType('POST', '/admin/clients'), 'client.created');
    assert.equal(changeType('PATCH', '/admin/clients/:id'), 'client.updated');
    assert.equal(changeType('DELETE', '/admin/clients/:id'), 'client.deleted');
    assert.equal(changeType('POST', '/admin/clients/:id/secret'), 'client.secret_rotated');
    assert.equal(changeType('POST', '/admin/users/:id/unlock'), 'user.unlocked');
    assert.equal(changeType('POST', '/admin/roles'), 'role.created');
    assert.equal(changeType('PATCH', '/admin/resources/:id'), 'resource.updated');
    assert.equal(changeType('POST', '/admin/keys/rotate'), 'key.rotated');
    assert.equal(changeType('POST', '/admin/initial-access-tokens'), 'initial_access_token.created');
    assert.equal(changeType('POST', '/admin/users/:id/passkeys'), 'user.passkeys');
    assert.equal(changeType('POST', '/admin/{*rest}'), undefined);
    assert.equal(changeType('POST', '/admin/unknown'), undefined);
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
