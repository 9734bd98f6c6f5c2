import { UniqueViolation } from '../../services/ports/errors.ts';

/** Prisma's code for a unique constraint violation, whatever the driver adapter. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; cause?: { code?: unknown; originalCode?: unknown } };
  return e.code === 'P2002' || e.cause?.originalCode === '23505' || e.cause?.code === '23505';
}

/**
 * Runs a write and turns a unique constraint violation into the services' `UniqueViolation`,
 * naming the first of `columns` the error mentions (the last one when it names none). Prisma
 * puts the column names in `meta.target` with the classic engine and in
 * `meta.driverAdapterError` with a driver adapter, so the whole report is searched.
 */
export async function unique<T>(columns: readonly [string, ...string[]], write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const report = JSON.stringify([(err as { meta?: unknown }).meta ?? {}, (err as { cause?: unknown }).cause ?? {}]);
    throw new UniqueViolation(columns.find((column) => report.includes(column)) ?? columns[columns.length - 1] ?? '');
  }
}

/**
 * The `updated_at` a conditional write sets: now, but always after the version it replaces, so
 * two writes within one millisecond (or on instances whose clocks differ) still change the ETag.
 */
export const nextVersion = (expected: Date): Date => new Date(Math.max(Date.now(), expected.getTime() + 1));
