import { randomUUID } from 'node:crypto';
import type { ClientRecord, ClientRepository } from '../../services/ports/clients.ts';
import type { Prisma, PrismaClient } from '../generated/client.ts';
import { nextVersion, unique } from './errors.ts';

type Db = Pick<PrismaClient, '$executeRaw'>;

const secretId = () => randomUUID().replaceAll('-', '');

/**
 * Makes `secretHash` the client's only secret (`null`: none): the others are removed, and a
 * secret with this very hash (the same operator secret written again at start-up) is kept with
 * its name, times and last use.
 */
const replaceSecrets = (db: Pick<PrismaClient, '$executeRaw'>, id: string, secretHash: string | null, name: string) =>
  secretHash === null
    ? [db.$executeRaw`DELETE FROM "client_secrets" WHERE "client_id" = ${id}`]
    : [
        db.$executeRaw`DELETE FROM "client_secrets" WHERE "client_id" = ${id} AND "secret_hash" <> ${secretHash}`,
        db.$executeRaw`INSERT INTO "client_secrets" ("id", "client_id", "name", "secret_hash")
          VALUES (${secretId()}, ${id}, ${name}, ${secretHash}) ON CONFLICT ("client_id", "secret_hash") DO NOTHING`,
      ];

/**
 * Ends the RFC 7592 registration access tokens of a client (oidc-provider keeps them among its
 * payloads, naming the client in `clientId`). `unlessClientExists`: only if the client is gone.
 */
export const endRegistration = (db: Db, id: string, unlessClientExists = false) =>
  unlessClientExists
    ? db.$executeRaw`DELETE FROM "oidc_payloads" WHERE "model" = 'RegistrationAccessToken'
        AND "payload"->>'clientId' = ${id} AND NOT EXISTS (SELECT 1 FROM "clients" WHERE "id" = ${id})`
    : db.$executeRaw`DELETE FROM "oidc_payloads" WHERE "model" = 'RegistrationAccessToken'
        AND "payload"->>'clientId' = ${id}`;

const toRecord = (row: {
  id: string;
  name: string | null;
  metadata: Prisma.JsonValue;
  secretHash: string | null;
  allowedResources: Prisma.JsonValue;
  firstParty: boolean;
  createdAt: Date;
  updatedAt: Date;
}): ClientRecord => ({
  ...row,
  metadata: row.metadata as Record<string, unknown>,
  allowedResources: row.allowedResources as Record<string, string[]>,
});

export function createClientRepository(prisma: PrismaClient): ClientRepository {
  return {
    async find(id) {
      const row = await prisma.client.findUnique({ where: { id } });
      return row ? toRecord(row) : undefined;
    },
    async list({ after, limit, namePrefix }) {
      const rows = await prisma.client.findMany({
        where: {
          ...(after === undefined ? {} : { id: { gt: after } }),
          ...(namePrefix ? { name: { startsWith: namePrefix } } : {}),
        },
        orderBy: { id: 'asc' },
        take: limit,
      });
      return rows.map(toRecord);
    },
    async create(client, options = {}) {
      // a token left over from an earlier client of this id must not manage the new one
      const [, created] = await unique(['id'], () =>
        prisma.$transaction([
          endRegistration(prisma, client.id),
          prisma.client.create({
            data: {
              ...client,
              metadata: client.metadata as Prisma.InputJsonObject,
              allowedResources: client.allowedResources as Prisma.InputJsonObject,
            },
          }),
          ...(client.secretHash === null
            ? []
            : replaceSecrets(prisma, client.id, client.secretHash, options.secretName ?? 'initial')),
        ]),
      );
      return toRecord(created);
    },
    async update(id, changes, expected, options = {}) {
      const { metadata, allowedResources, ...rest } = changes;
      const result = await prisma.$transaction(async (tx) => {
        const rows = await tx.client.updateManyAndReturn({
          where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) },
          data: {
            ...rest,
            ...(expected === undefined ? {} : { updatedAt: nextVersion(expected) }),
            ...(metadata === undefined ? {} : { metadata: metadata as Prisma.InputJsonObject }),
            ...(allowedResources === undefined ? {} : { allowedResources: allowedResources as Prisma.InputJsonObject }),
          },
        });
        if (rows[0] && options.endRegistration) await endRegistration(tx, id);
        if (rows[0] && changes.secretHash !== undefined) {
          for (const statement of replaceSecrets(tx, id, changes.secretHash, options.secretName ?? 'rotated')) {
            await statement;
          }
        }
        return rows;
      });
      if (result[0]) return toRecord(result[0]);
      return expected !== undefined && (await prisma.client.count({ where: { id } })) > 0 ? 'stale' : undefined;
    },
    async delete(id, expected) {
      const [{ count }] = await prisma.$transaction([
        prisma.client.deleteMany({ where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) } }),
        endRegistration(prisma, id, true),
      ]);
      if (count > 0) return true;
      return expected !== undefined && (await prisma.client.count({ where: { id } })) > 0 ? 'stale' : undefined;
    },
  };
}
