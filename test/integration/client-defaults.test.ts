import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// The defaults POST /admin/clients fills in (the admin API's client defaults live in its route
// module, not exported, so they are read back through the API): a service without redirect URIs
// gets client credentials only, an application the code flow; what the admin sends wins.
describe('client metadata defaults of POST /admin/clients', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  const rows: { rule: string; body: Record<string, unknown>; expect: Record<string, unknown> }[] = [
    {
      rule: 'no redirect URIs: a service, client credentials only, no response type',
      body: {},
      expect: {
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        application_type: 'web',
      },
    },
    {
      rule: 'redirect URIs: an application, the code flow with refresh tokens',
      body: { redirect_uris: ['https://app.example/cb'] },
      expect: {
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['https://app.example/cb'],
        token_endpoint_auth_method: 'client_secret_basic',
        application_type: 'web',
      },
    },
    {
      rule: 'explicit grant types win; the response type follows them',
      body: { redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code'] },
      expect: { grant_types: ['authorization_code'], response_types: ['code'] },
    },
    {
      rule: 'an explicit token endpoint auth method wins',
      body: { token_endpoint_auth_method: 'client_secret_post' },
      expect: { token_endpoint_auth_method: 'client_secret_post', grant_types: ['client_credentials'] },
    },
    {
      rule: 'an explicit application type wins',
      body: { application_type: 'native', redirect_uris: ['http://127.0.0.1/cb'] },
      expect: { application_type: 'native', grant_types: ['authorization_code', 'refresh_token'] },
    },
  ];
  for (const row of rows) {
    it(row.rule, async () => {
      const created = await server.admin<Record<string, unknown>>('POST', '/clients', row.body);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const read = await server.admin<Record<string, unknown>>('GET', `/clients/${created.body.client_id}`);
      for (const [field, value] of Object.entries(row.expect)) {
        assert.deepEqual(created.body[field], value, `${field} as created`);
        assert.deepEqual(read.body[field], value, `${field} as read back`);
      }
    });
  }
});
