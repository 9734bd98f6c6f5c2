import type { z } from 'zod';
import { createApp } from '../app.ts';
import type { Config } from '../config/index.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { RegisterInput, UpdateInput } from '../services/accounts.ts';
import { CACHE_CHANNEL } from '../services/cache.ts';
import type { ClientWithSecret } from '../services/clients.ts';
import type { ClientSecretRecord } from '../services/ports/client-secrets.ts';
import type { ClientRecord } from '../services/ports/clients.ts';
import { NewResource, NewRole, ResourcePatch, RoleNames, RolePatch } from '../services/schemas/admin.ts';
import { ClientPatch, clientChangesOf, NewClient, newClientOf } from '../services/schemas/clients.ts';
import { zodDetails } from '../services/schemas/details.ts';
import { NewClientSecret } from '../services/schemas/federation.ts';
// the admin API's own representations, so --json prints the same in both modes
import { clientView, resourceView, roleView, userView } from '../services/views.ts';
import type { AdminBackend, Json, Noun } from './backend.ts';
import { CliError, describeFailure, exitCodeFor } from './errors.ts';

const NewUser = RegisterInput.extend({ roles: RoleNames.optional() });
const UserPatch = UpdateInput.extend({ roles: RoleNames.optional() });

/** The admin API's validation, so the CLI refuses what the admin API refuses, with its words. */
function checked<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new CliError(describeFailure('invalid input', zodDetails(result.error)), 2);
  return result.data;
}

const nonEmpty = (body: Json) => {
  if (Object.keys(body).length === 0) throw new CliError('name at least one field to change', 2);
};

/**
 * The operator's own mode: the services straight on the database, through the composition
 * root. The admin delegation rules (which bound what one admin token may grant) do not apply:
 * whoever can reach the database and SECRETS_KEY holds every power already.
 */
export async function openDirect(config: Config, issuer: string, log: Logger): Promise<AdminBackend> {
  const app = await createApp(config, issuer, log);
  const { clients, clientSecrets, federation, resources, roles, accounts, keys, protection } = app.services;
  const clientRoles = (id: string) => roles.namesOf({ kind: 'client', id });
  const userRoles = (id: string) => roles.namesOf({ kind: 'user', id });
  // as the admin API shows a client: with its federated subjects
  const viewOf = async (client: ClientRecord, secret?: string) => ({
    ...clientView(client, await clientRoles(client.id), secret),
    federatedSubjects: await federation.subjectsOf(client.id),
  });
  const withSecret = ({ client, secret }: ClientWithSecret) => viewOf(client, secret);
  const secretView = (s: ClientSecretRecord) => ({
    id: s.id,
    name: s.name,
    createdAt: s.createdAt.toISOString(),
    expiresAt: s.expiresAt?.toISOString() ?? null,
    lastUsedAt: s.lastUsedAt?.toISOString() ?? null,
  });
  const user = async (id: string) => {
    const found = await accounts.get(id);
    if (!found) throw new AppError('not_found', 404, 'user not found');
    return found;
  };

  const run = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (err instanceof AppError && err.expose) {
        throw new CliError(describeFailure(err.message, err.details), exitCodeFor(err.status));
      }
      throw err;
    }
  };

  const backend: AdminBackend = {
    list: (noun, { limit, after, filters }) =>
      run(async () => {
        if (noun === 'user') {
          const page = await accounts.list({
            limit,
            ...(after ? { after } : {}),
            filter: { status: filters.status as 'active' | 'disabled' | undefined, ...filters },
          });
          return {
            data: await Promise.all(page.users.map(async (u) => userView(u, await userRoles(u.id)))),
            next: page.next,
          };
        }
        const next = (page: { id: string }[]) => (page.length === limit ? page.at(-1)?.id : undefined);
        if (noun === 'client') {
          const page = await clients.list({ after, limit, namePrefix: filters.client_name });
          return {
            data: await Promise.all(page.map((c) => viewOf(c))),
            next: next(page),
          };
        }
        if (noun === 'resource') {
          const page = await resources.list({ after, limit, identifierPrefix: filters.identifier });
          return { data: page.map(resourceView), next: next(page) };
        }
        const page = await roles.list({ after, limit, name: filters.name });
        return { data: page.map(roleView), next: next(page) };
      }),

    show: (noun, id) =>
      run(async (): Promise<Json> => {
        if (noun === 'client') return viewOf(await clients.get(id));
        if (noun === 'resource') return resourceView(await resources.get(id));
        if (noun === 'role') return roleView(await roles.get(id));
        return userView(await user(id), await userRoles(id));
      }),

    create: (noun, body) =>
      run(async (): Promise<Json> => {
        if (noun === 'client') {
          const input = checked(NewClient, body);
          if (input.roles) await roles.check(input.roles);
          const subjects = input.federatedSubjects;
          if (subjects) await federation.checkSubjects(input.client_id ?? '', subjects);
          const created = await clients.register(newClientOf(input));
          if (input.roles) await roles.assign({ kind: 'client', id: created.client.id }, input.roles);
          if (subjects) await federation.bind(created.client.id, subjects);
          return withSecret(created);
        }
        if (noun === 'resource') return resourceView(await resources.create(checked(NewResource, body)));
        if (noun === 'role') return roleView(await roles.create(checked(NewRole, body)));
        const { roles: names, ...fields } = checked(NewUser, body);
        if (names) await roles.check(names);
        const created = await accounts.register(fields);
        if (names) await roles.assign({ kind: 'user', id: created.id }, names);
        return userView(created, names ?? []);
      }),

    update: (noun, id, body) =>
      run(async (): Promise<Json> => {
        if (noun === 'client') {
          const patch = checked(ClientPatch, body);
          const current = await clients.get(id);
          if (patch.roles) await roles.check(patch.roles);
          if (patch.federatedSubjects) await federation.checkSubjects(id, patch.federatedSubjects);
          const changed = await clients.update(id, clientChangesOf(patch, current.metadata), {
            expected: current.updatedAt,
          });
          if (patch.roles) await roles.assign({ kind: 'client', id }, patch.roles);
          if (patch.federatedSubjects) await federation.bind(id, patch.federatedSubjects);
          return withSecret(changed);
        }
        if (noun === 'resource') {
          const patch = checked(ResourcePatch, body);
          const current = await resources.get(id);
          return resourceView(await resources.update(id, patch, { expected: current.updatedAt }));
        }
        if (noun === 'role') {
          const patch = checked(RolePatch, body);
          const current = await roles.get(id);
          return roleView(await roles.update(id, patch, { expected: current.updatedAt }));
        }
        nonEmpty(body);
        const { roles: names, ...fields } = checked(UserPatch, body);
        const current = await user(id);
        if (names) await roles.check(names);
        const changed = await accounts.update(id, fields, { expected: current.updatedAt });
        if (names) await roles.assign({ kind: 'user', id }, names);
        return userView(changed, await userRoles(id));
      }),

    delete: (noun: Noun, id) =>
      run(async () => {
        if (noun === 'client') return clients.delete(id);
        if (noun === 'resource') return resources.delete(id);
        if (noun === 'role') return roles.delete(id);
        await user(id);
        return accounts.remove(id);
      }),

    unlock: (id) =>
      run(async () => {
        const found = await user(id);
        await protection.bruteForce.unlock([found.username, ...(found.email ? [found.email] : [])]);
      }),

    rotateSecret: (id) => run(async () => withSecret(await clients.rotateSecret(id))),

    listSecrets: (id) => run(async () => ({ data: (await clientSecrets.list(id)).map(secretView) })),

    addSecret: (id, body) =>
      run(async () => {
        const input = checked(NewClientSecret, body);
        const { record, secret } = await clientSecrets.add(id, input);
        return { ...secretView(record), secret };
      }),

    removeSecret: (id, secretId) => run(() => clientSecrets.remove(id, secretId)),

    rotateKeys: () =>
      run(async () => {
        const rotated = await keys.rotate();
        // running instances switch to the new keys at once
        await app.db.notify(CACHE_CHANNEL, JSON.stringify({ topic: 'keys' }));
        return { rotated };
      }),

    listKeys: () =>
      run(async () => ({
        data: (await keys.list()).map((k) => ({
          kid: k.kid,
          alg: k.alg,
          current: k.current,
          created_at: k.createdAt.toISOString(),
          expires_at: k.expiresAt?.toISOString() ?? null,
        })),
      })),

    close: () => app.close(),
  };
  return backend;
}
