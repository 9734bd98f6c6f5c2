import type { ResourceRepository } from '../../services/ports/resources.ts';
import type { PrismaClient } from '../generated/client.ts';
import { nextVersion, unique } from './errors.ts';

/**
 * Makes roles and clients agree with the API as it now is (or its absence): permissions and
 * allowedResources scopes that the API does not list are removed. The changed rows get a new
 * `updated_at`, so an If-Match naming their old version fails.
 */
function pruneReferences(prisma: PrismaClient, identifier: string) {
  return [
    prisma.$executeRaw`
      UPDATE "roles" AS o
      SET "permissions" = COALESCE(
            (SELECT jsonb_agg(e.p ORDER BY e.n) FROM jsonb_array_elements(o."permissions") WITH ORDINALITY AS e(p, n)
             WHERE e.p->>'resource' IS DISTINCT FROM ${identifier}::text
                OR (r.scopes IS NOT NULL AND e.p->>'scope' = ANY(r.scopes))),
            '[]'::jsonb),
          "updated_at" = GREATEST(now(), o."updated_at" + interval '1 millisecond')
      FROM (SELECT (SELECT "scopes" FROM "resources" WHERE "identifier" = ${identifier}::text) AS scopes) AS r
      WHERE jsonb_typeof(o."permissions") = 'array'
        AND EXISTS (SELECT 1 FROM jsonb_array_elements(o."permissions") AS q(p)
                    WHERE q.p->>'resource' = ${identifier}::text
                      AND (r.scopes IS NULL OR NOT (q.p->>'scope' = ANY(r.scopes))))`,
    prisma.$executeRaw`
      UPDATE "clients" AS c
      SET "allowed_resources" = CASE
            WHEN r.scopes IS NULL THEN c."allowed_resources" - ${identifier}::text
            ELSE jsonb_set(c."allowed_resources", ARRAY[${identifier}::text], COALESCE(
              (SELECT jsonb_agg(e.s ORDER BY e.n)
               FROM jsonb_array_elements_text(c."allowed_resources"->${identifier}::text) WITH ORDINALITY AS e(s, n)
               WHERE e.s = ANY(r.scopes)),
              '[]'::jsonb))
          END,
          "updated_at" = GREATEST(now(), c."updated_at" + interval '1 millisecond')
      FROM (SELECT (SELECT "scopes" FROM "resources" WHERE "identifier" = ${identifier}::text) AS scopes) AS r
      WHERE jsonb_exists(c."allowed_resources", ${identifier}::text)
        AND (r.scopes IS NULL
             OR jsonb_typeof(c."allowed_resources"->${identifier}::text) <> 'array'
             OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(c."allowed_resources"->${identifier}::text) AS q(s)
                        WHERE NOT (q.s = ANY(r.scopes))))`,
  ] as const;
}

export function createResourceRepository(prisma: PrismaClient): ResourceRepository {
  return {
    async longestAccessTokenTtl() {
      const { _max } = await prisma.resource.aggregate({ _max: { accessTokenTtl: true } });
      return _max.accessTokenTtl ?? 0;
    },
    async find(id) {
      return (await prisma.resource.findUnique({ where: { id } })) ?? undefined;
    },
    async findByIdentifier(identifier) {
      return (await prisma.resource.findUnique({ where: { identifier } })) ?? undefined;
    },
    list({ after, limit, identifierPrefix }) {
      return prisma.resource.findMany({
        where: {
          ...(after === undefined ? {} : { id: { gt: after } }),
          ...(identifierPrefix ? { identifier: { startsWith: identifierPrefix } } : {}),
        },
        orderBy: { id: 'asc' },
        take: limit,
      });
    },
    async create(resource) {
      const [pruneRoles, pruneClients] = pruneReferences(prisma, resource.identifier);
      const [, , created] = await unique(['identifier', 'id'], () =>
        prisma.$transaction([pruneRoles, pruneClients, prisma.resource.create({ data: resource })]),
      );
      return created;
    },
    async update(id, changes, expected) {
      const current = await prisma.resource.findUnique({ where: { id } });
      if (!current) return undefined;
      const [rows] = await prisma.$transaction([
        prisma.resource.updateManyAndReturn({
          where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) },
          data: { ...changes, ...(expected === undefined ? {} : { updatedAt: nextVersion(expected) }) },
        }),
        ...pruneReferences(prisma, current.identifier),
      ]);
      if (rows[0]) return rows[0];
      return expected !== undefined && (await prisma.resource.count({ where: { id } })) > 0 ? 'stale' : undefined;
    },
    async delete(id, expected) {
      const row = await prisma.resource.findUnique({ where: { id } });
      if (!row) return expected === undefined ? undefined : 'stale';
      const [{ count }] = await prisma.$transaction([
        prisma.resource.deleteMany({ where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) } }),
        ...pruneReferences(prisma, row.identifier),
      ]);
      if (count > 0) return row;
      return expected !== undefined && (await prisma.resource.count({ where: { id } })) > 0 ? 'stale' : undefined;
    },
  };
}
