import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createPasskeyRepository } from '../../src/db/repositories/passkeys.ts';
import type { AdminEvent as Event } from '../helpers/form-signin.ts';
import { waitForEvents } from '../helpers/form-signin.ts';
import { ADMIN_CLIENT_ID, randomName, startTestServer, type TestServer } from '../helpers/server.ts';

describe('admin changes in the event log', () => {
  let server: TestServer;
  let userId: string;

  before(async () => {
    server = await startTestServer();
    userId = (await server.running.app.services.accounts.register({ username: randomName('erin') })).id;
  });
  after(() => server?.close());

  it('regression: an admin removing a passkey is recorded as passkey.removed by that admin, not user.passkeys', async () => {
    const passkeyId = randomUUID();
    await createPasskeyRepository(server.running.app.db.prisma).create({
      id: passkeyId,
      userId,
      credentialId: randomBytes(16).toString('base64url'),
      publicKey: randomBytes(77),
      counter: 0,
      transports: [],
      backupEligible: false,
      backedUp: false,
      aaguid: '00000000-0000-0000-0000-000000000000',
      name: 'Key',
    });
    const readOnly = await server.adminToken('users:read');
    const refused = await server.admin('DELETE', `/users/${userId}/passkeys/${passkeyId}`, undefined, readOnly);
    assert.equal(refused.status, 403);
    const removed = await server.admin('DELETE', `/users/${userId}/passkeys/${passkeyId}`);
    assert.equal(removed.status, 204);

    const byAdmin = (events: Event[]) => events.filter((e) => e.actor !== null && e.client_id === ADMIN_CLIENT_ID);
    const events = await waitForEvents<Event>(
      server,
      { subject: userId, limit: '50' },
      (e) => byAdmin(e).filter((x) => x.type === 'passkey.removed').length >= 2,
    );
    assert.equal(
      events.some((e) => e.type === 'user.passkeys'),
      false,
    );
    const recorded = byAdmin(events).filter((e) => e.type === 'passkey.removed');
    // once: the route records it; the passkey service does not record an admin's removal again
    assert.equal(events.filter((e) => e.type === 'passkey.removed' && e.outcome === 'success').length, 1);
    assert.deepEqual(recorded.map((e) => e.outcome).sort(), ['failure', 'success']);
    const success = recorded.find((e) => e.outcome === 'success');
    assert.equal(success?.subject, userId);
    assert.equal(success?.details.authenticator_id, passkeyId);
    assert.equal(recorded.find((e) => e.outcome === 'failure')?.details.error, 'insufficient_scope');
  });

  it('a change through the admin API is recorded once, under the type its route declares', async () => {
    const created = await server.admin<{ id: string }>('POST', '/roles', { name: randomName('ops'), permissions: [] });
    assert.equal(created.status, 201);
    const events = await waitForEvents<Event>(server, { subject: created.body.id, limit: '10' });
    assert.deepEqual(
      events.map((e) => e.type),
      ['role.created'],
    );
  });
});
