import type { PrismaClient } from '../generated/client.ts';
import { isUniqueViolation } from './errors.ts';

export interface ResourceRecord {
  id: string;
  identifier: string;
  name: string;
  scopes: string[];
  accessTokenTtl: number;
  rolesClaim: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type ResourceWrite = Omit<ResourceRecord, 'createdAt' | 'updatedAt'>;

export interface ResourceRepository {
  find(id: string): Promise<ResourceRecord | undefined>;
  findByIdentifier(identifier: string): Promise<ResourceRecord | undefined>;
  list(options: {
    after?: string | undefined;
    limit: number;
    identifierPrefix?: string | undefined;
  }): Promise<ResourceRecord[]>;
  /** @returns false when the identifier or id is taken */
  create(resource: ResourceWrite): Promise<ResourceRecord | false>;
  update(
    id: string,
    changes: Partial<Pick<ResourceWrite, 'name' | 'scopes' | 'accessTokenTtl'>>,
  ): Promise<ResourceRecord | undefined>;
  delete(id: string): Promise<ResourceRecord | undefined>;
}

export function createResourceRepository(prisma: PrismaClient): ResourceRepository {
  return {
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
      try {
        return await prisma.resource.create({ data: resource });
      } catch (err) {
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    },
    async update(id, changes) {
      const [row] = await prisma.resource.updateManyAndReturn({ where: { id }, data: changes });
      return row;
    },
    async delete(id) {
      const [row] = await prisma.resource.findMany({ where: { id } });
      if (!row) return undefined;
      const { count } = await prisma.resource.deleteMany({ where: { id } });
      return count > 0 ? row : undefined;
    },
  };
}
