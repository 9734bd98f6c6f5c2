/** Prisma's code for a unique constraint violation, whatever the driver adapter. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; cause?: { code?: unknown; originalCode?: unknown } };
  return e.code === 'P2002' || e.cause?.originalCode === '23505' || e.cause?.code === '23505';
}

/**
 * The `updated_at` a conditional write sets: now, but always after the version it replaces, so
 * two writes within one millisecond (or on instances whose clocks differ) still change the ETag.
 */
export const nextVersion = (expected: Date): Date => new Date(Math.max(Date.now(), expected.getTime() + 1));
