import type { Prisma, PrismaClient } from '../generated/client.ts';

export type Payload = Record<string, unknown>;

/** Storage for every oidc-provider model but Client: one JSONB table keyed by (model, id). */
export interface OidcPayloadRepository {
  upsert(model: string, id: string, payload: Payload, expiresIn: number | undefined): Promise<void>;
  find(model: string, id: string): Promise<Payload | undefined>;
  findBy(model: string, field: 'uid' | 'userCode', value: string): Promise<Payload | undefined>;
  consume(model: string, id: string): Promise<void>;
  /** marks a live, unconsumed row consumed; false when it was already consumed, expired or missing (atomic: one winner) */
  consumeOnce(model: string, id: string): Promise<boolean>;
  destroy(model: string, id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
  /** @returns how many expired rows were removed */
  purgeExpired(now: Date, batch: number): Promise<number>;
}

interface Row {
  payload: Prisma.JsonValue;
  expiresAt: Date | null;
  consumedAt: Date | null;
}

// A row past its expiry is gone for the provider even before the purge removes it.
function live(row: Row | null): Payload | undefined {
  if (!row || (row.expiresAt !== null && row.expiresAt.getTime() <= Date.now())) return undefined;
  const payload = row.payload as Payload;
  return row.consumedAt === null ? payload : { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) };
}

const select = { payload: true, expiresAt: true, consumedAt: true } as const;

export function createOidcPayloadRepository(prisma: PrismaClient): OidcPayloadRepository {
  return {
    async upsert(model, id, payload, expiresIn) {
      const data = {
        payload: payload as Prisma.InputJsonObject,
        grantId: typeof payload.grantId === 'string' ? payload.grantId : null,
        uid: typeof payload.uid === 'string' ? payload.uid : null,
        userCode: typeof payload.userCode === 'string' ? payload.userCode : null,
        expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
      };
      await prisma.oidcPayload.upsert({
        where: { model_id: { model, id } },
        create: { model, id, ...data },
        update: data,
      });
    },
    async find(model, id) {
      return live(await prisma.oidcPayload.findUnique({ where: { model_id: { model, id } }, select }));
    },
    async findBy(model, field, value) {
      return live(await prisma.oidcPayload.findFirst({ where: { model, [field]: value }, select }));
    },
    async consume(model, id) {
      await prisma.oidcPayload.updateMany({ where: { model, id }, data: { consumedAt: new Date() } });
    },
    async consumeOnce(model, id) {
      const now = new Date();
      const { count } = await prisma.oidcPayload.updateMany({
        where: { model, id, consumedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
        data: { consumedAt: now },
      });
      return count === 1;
    },
    async destroy(model, id) {
      await prisma.oidcPayload.deleteMany({ where: { model, id } });
    },
    async revokeByGrantId(grantId) {
      await prisma.oidcPayload.deleteMany({ where: { grantId } });
    },
    async purgeExpired(now, batch) {
      const rows = await prisma.oidcPayload.findMany({
        where: { expiresAt: { lte: now } },
        select: { model: true, id: true },
        take: batch,
      });
      if (rows.length === 0) return 0;
      const { count } = await prisma.oidcPayload.deleteMany({
        where: { OR: rows.map(({ model, id }) => ({ model, id })) },
      });
      return count;
    },
  };
}
