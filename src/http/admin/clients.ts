import type Router from '@koa/router';
import { conflict, invalidField } from '../../errors.ts';
import type { AdminDelegation } from '../../services/admin-delegation.ts';
import { type ClientMetadata, type ClientService, type ClientWithSecret, needsSecret } from '../../services/clients.ts';
import type { FederationService } from '../../services/federation.ts';
import type { ClientRecord } from '../../services/ports/clients.ts';
import type { RoleService } from '../../services/roles.ts';
import {
  ClientPatch,
  ClientRotatedView,
  ClientView,
  ClientWithSecretView,
  clientChangesOf,
  NewClient,
  newClientOf,
} from '../../services/schemas/clients.ts';
import { pageOf } from '../../services/schemas/responses.ts';
import { clientView } from '../../services/views.ts';
import { callerPower, requireScope } from '../middleware/admin-auth.ts';
import { assertIfMatch } from '../middleware/etag.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';
import { ClientQuery, IdParams } from './schemas.ts';

export function clientRoutes(
  router: Router,
  clients: ClientService,
  roles: RoleService,
  delegation: AdminDelegation,
  federation: Pick<FederationService, 'subjectsOf' | 'checkSubjects' | 'bind'>,
): void {
  const rolesOf = (id: string) => roles.namesOf({ kind: 'client', id });
  const viewOf = async (client: ClientRecord, secret?: string) => ({
    ...clientView(client, await rolesOf(client.id), secret),
    federatedSubjects: await federation.subjectsOf(client.id),
  });
  const withSecret = ({ client, secret }: ClientWithSecret) => viewOf(client, secret);
  // a federated assertion stands in for the client's secret (ADR 0017): a secret method only
  const checkFederable = (metadata: ClientMetadata, subjects: readonly unknown[] | undefined) => {
    if (subjects && subjects.length > 0 && !needsSecret(metadata)) {
      throw invalidField(
        'federatedSubjects',
        'needs token_endpoint_auth_method client_secret_basic or client_secret_post',
      );
    }
  };

  router.post(
    '/clients',
    requireScope('clients:write', { event: 'client.created' }),
    responds('ClientCreated', ClientWithSecretView, 201),
    guard({ body: NewClient }),
    async (ctx) => {
      const { body } = guarded(ctx, { body: NewClient });
      const { allowedResources } = body;
      const caller = callerPower(ctx);
      if (body.client_id !== undefined && delegation.isBuiltInClient(body.client_id)) {
        throw conflict(`${body.client_id} is the client_id of a built-in client`);
      }
      await delegation.checkAllowedResources(caller, allowedResources ?? {});
      await delegation.checkIntrospectionAudiences(caller, body.introspection_audiences ?? []);
      if (body.tokenExchange) await delegation.checkTokenExchange(caller, body.tokenExchange);
      if (body.roles) await delegation.checkRoleAssignment(caller, body.roles);
      const subjects = body.federatedSubjects;
      const input = newClientOf(body);
      checkFederable(input.metadata, subjects);
      if (subjects) await federation.checkSubjects(input.client_id ?? '', subjects);
      const created = await clients.register(input);
      if (body.roles) await roles.assign({ kind: 'client', id: created.client.id }, body.roles);
      if (subjects) await federation.bind(created.client.id, subjects);
      ctx.status = 201;
      ctx.set('Location', `/admin/clients/${encodeURIComponent(created.client.id)}`);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = await withSecret(created);
    },
  );

  router.get(
    '/clients',
    requireScope('clients:read'),
    responds('ClientPage', pageOf(ClientView)),
    guard({ query: ClientQuery }),
    async (ctx) => {
      const { query } = guarded(ctx, { query: ClientQuery });
      const page = await clients.list({ after: query.after, limit: query.limit, namePrefix: query.client_name });
      ctx.body = {
        data: await Promise.all(page.map((c) => viewOf(c))),
        next: page.length === query.limit ? page.at(-1)?.id : undefined,
      };
    },
  );

  router.get(
    '/clients/:id',
    requireScope('clients:read'),
    responds('Client', ClientView),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      ctx.body = await viewOf(await clients.get(params.id));
    },
  );

  router.patch(
    '/clients/:id',
    requireScope('clients:write', { event: 'client.updated' }),
    responds('ClientChanged', ClientWithSecretView),
    guard({ params: IdParams, body: ClientPatch }),
    async (ctx) => {
      const { params, body } = guarded(ctx, { params: IdParams, body: ClientPatch });
      const current = await clients.get(params.id);
      assertIfMatch(ctx, current.updatedAt);
      const { allowedResources } = body;
      const caller = callerPower(ctx);
      await delegation.checkClientTarget(caller, current);
      if (allowedResources !== undefined) await delegation.checkAllowedResources(caller, allowedResources);
      if (body.introspection_audiences !== undefined) {
        await delegation.checkIntrospectionAudiences(caller, body.introspection_audiences);
      }
      if (body.tokenExchange) await delegation.checkTokenExchange(caller, body.tokenExchange);
      if (body.roles) await delegation.checkRoleAssignment(caller, body.roles);
      const changes = clientChangesOf(body, current.metadata);
      checkFederable(
        changes.metadata ?? current.metadata,
        body.federatedSubjects ?? (await federation.subjectsOf(params.id)),
      );
      if (body.federatedSubjects) await federation.checkSubjects(params.id, body.federatedSubjects);
      // written only if still the version checked above (412 otherwise), roles included
      const changed = await clients.update(params.id, changes, {
        expected: current.updatedAt,
      });
      if (body.roles) await roles.assign({ kind: 'client', id: params.id }, body.roles);
      if (body.federatedSubjects) await federation.bind(params.id, body.federatedSubjects);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = await withSecret(changed);
    },
  );

  router.delete(
    '/clients/:id',
    requireScope('clients:write', { event: 'client.deleted' }),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      const current = await clients.get(params.id);
      assertIfMatch(ctx, current.updatedAt);
      await delegation.checkClientTarget(callerPower(ctx), current);
      await clients.delete(params.id, { expected: current.updatedAt });
      ctx.status = 204;
    },
  );

  router.post(
    '/clients/:id/secret',
    requireScope('clients:write', { event: 'client.secret_rotated' }),
    responds('ClientWithNewSecret', ClientRotatedView),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      const current = await clients.get(params.id);
      assertIfMatch(ctx, current.updatedAt);
      await delegation.checkClientTarget(callerPower(ctx), current);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = await withSecret(await clients.rotateSecret(params.id, { expected: current.updatedAt }));
    },
  );
}
