import type { Permission, RoleRecord, RoleRepository } from '../../services/ports/roles.ts';
import type { Prisma, PrismaClient } from '../generated/client.ts';
import { nextVersion, unique } from './errors.ts';

type Row = Omit<RoleRecord, 'permissions'> & { permissions: Prisma.JsonValue };
const toRecord = (row: Row): RoleRecord => ({ ...row, permissions: row.permissions as unknown as Permission[] });

export function createRoleRepository(prisma: PrismaClient): RoleRepository {
  return {
    async find(id) {
      const row = await prisma.role.findUnique({ where: { id } });
      return row ? toRecord(row) : undefined;
    },
    async findByNames(names) {
      return (await prisma.role.findMany({ where: { name: { in: [...names] } } })).map(toRecord);
    },
    async list({ after, limit, name }) {
      const rows = await prisma.role.findMany({
        where: {
          ...(after === undefined ? {} : { id: { gt: after } }),
          ...(name ? { name: { startsWith: name } } : {}),
        },
        orderBy: { id: 'asc' },
        take: limit,
      });
      return rows.map(toRecord);
    },
    async create(role) {
      const row = await unique(['name'], () =>
        prisma.role.create({ data: { ...role, permissions: role.permissions as unknown as Prisma.InputJsonArray } }),
      );
      return toRecord(row);
    },
    async update(id, changes, expected) {
      const { permissions, ...rest } = changes;
      const [row] = await unique(['name'], () =>
        prisma.role.updateManyAndReturn({
          where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) },
          data: {
            ...rest,
            ...(expected === undefined ? {} : { updatedAt: nextVersion(expected) }),
            ...(permissions === undefined ? {} : { permissions: permissions as unknown as Prisma.InputJsonArray }),
          },
        }),
      );
      if (row) return toRecord(row);
      return expected !== undefined && (await prisma.role.count({ where: { id } })) > 0 ? 'stale' : undefined;
    },
    async delete(id, expected) {
      const { count } = await prisma.role.deleteMany({
        where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) },
      });
      if (count > 0) return true;
      return expected !== undefined && (await prisma.role.count({ where: { id } })) > 0 ? 'stale' : undefined;
    },
    async ofUser(userId) {
      const rows = await prisma.userRole.findMany({ where: { userId }, include: { role: true } });
      return rows.map((r) => toRecord(r.role)).sort((a, b) => a.name.localeCompare(b.name));
    },
    async ofClient(clientId) {
      const rows = await prisma.clientRole.findMany({ where: { clientId }, include: { role: true } });
      return rows.map((r) => toRecord(r.role)).sort((a, b) => a.name.localeCompare(b.name));
    },
    async setForUser(userId, roleIds) {
      await prisma.$transaction([
        prisma.userRole.deleteMany({ where: { userId } }),
        prisma.userRole.createMany({ data: roleIds.map((roleId) => ({ userId, roleId })) }),
      ]);
    },
    async setForClient(clientId, roleIds) {
      await prisma.$transaction([
        prisma.clientRole.deleteMany({ where: { clientId } }),
        prisma.clientRole.createMany({ data: roleIds.map((roleId) => ({ clientId, roleId })) }),
      ]);
    },
  };
}
