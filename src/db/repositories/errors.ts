/** Prisma's code for a unique constraint violation, whatever the driver adapter. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; cause?: { code?: unknown; originalCode?: unknown } };
  return e.code === 'P2002' || e.cause?.originalCode === '23505' || e.cause?.code === '23505';
}
