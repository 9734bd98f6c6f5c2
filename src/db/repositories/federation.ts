import type { FederatedIssuerRecord, FederationRepository } from '../../services/ports/federation.ts';
import { Prisma, type PrismaClient } from '../generated/client.ts';
import { nextVersion, unique } from './errors.ts';

type Row = Omit<FederatedIssuerRecord, 'jwks'> & { jwks: Prisma.JsonValue };

const toRecord = (row: Row): FederatedIssuerRecord => ({
  ...row,
  jwks: row.jwks as FederatedIssuerRecord['jwks'],
});

const jwksValue = (jwks: FederatedIssuerRecord['jwks']) =>
  jwks === null ? Prisma.DbNull : (jwks as Prisma.InputJsonObject);

export function createFederationRepository(prisma: PrismaClient): FederationRepository {
  return {
    async findIssuer(id) {
      const row = await prisma.federatedIssuer.findUnique({ where: { id } });
      return row ? toRecord(row) : undefined;
    },
    async findIssuerByUrl(issuer) {
      const row = await prisma.federatedIssuer.findUnique({ where: { issuer } });
      return row ? toRecord(row) : undefined;
    },
    async listIssuers({ after, limit }) {
      const rows = await prisma.federatedIssuer.findMany({
        where: after === undefined ? {} : { id: { gt: after } },
        orderBy: { id: 'asc' },
        take: limit,
      });
      return rows.map(toRecord);
    },
    async createIssuer(issuer) {
      const { jwks, ...rest } = issuer;
      const row = await unique(['issuer'], () =>
        prisma.federatedIssuer.create({ data: { ...rest, ...(jwks === null ? {} : { jwks: jwksValue(jwks) }) } }),
      );
      return toRecord(row);
    },
    async updateIssuer(id, changes, expected) {
      const { jwks, ...rest } = changes;
      const rows = await unique(['issuer'], () =>
        prisma.federatedIssuer.updateManyAndReturn({
          where: { id, ...(expected === undefined ? {} : { updatedAt: expected }) },
          data: {
            ...rest,
            ...(expected === undefined ? {} : { updatedAt: nextVersion(expected) }),
            ...(jwks === undefined ? {} : { jwks: jwksValue(jwks) }),
          },
        }),
      );
      if (rows[0]) return toRecord(rows[0]);
      return expected !== undefined && (await prisma.federatedIssuer.count({ where: { id } })) > 0
        ? 'stale'
        : undefined;
    },
    async deleteIssuer(id) {
      const { count } = await prisma.federatedIssuer.deleteMany({ where: { id } });
      return count > 0 ? true : undefined;
    },
    async clientOf(issuer, subject) {
      const row = await prisma.federatedSubject.findUnique({ where: { issuer_subject: { issuer, subject } } });
      return row?.clientId;
    },
    async subjectsOf(clientId) {
      return prisma.federatedSubject.findMany({
        where: { clientId },
        select: { issuer: true, subject: true },
        orderBy: [{ issuer: 'asc' }, { subject: 'asc' }],
      });
    },
    async bind(clientId, subjects) {
      await unique(['subject'], () =>
        prisma.$transaction([
          prisma.federatedSubject.deleteMany({ where: { clientId } }),
          prisma.federatedSubject.createMany({ data: subjects.map((s) => ({ ...s, clientId })) }),
        ]),
      );
    },
  };
}
