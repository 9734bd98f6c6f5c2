/**
 * How every repository reports what is not a plain success, so services handle it one way:
 *
 * - a row that does not exist: `undefined` (never `false`, `null` or `{ ok: false }`);
 * - a conditional write that lost (the row is no longer the `expected` version): `'stale'`;
 * - a unique value that is already taken: a thrown `UniqueViolation` naming the column.
 *
 * Services turn these into `AppError`s (404, 412, 409) with words for their callers.
 */
export type Stale = 'stale';

/** A write hit a unique constraint: `field` names the column whose value is taken (`email`, `id`, ...). */
export class UniqueViolation extends Error {
  override name = 'UniqueViolation';
  readonly field: string;

  constructor(field: string) {
    super(`${field} is already taken`);
    this.field = field;
  }
}

/** Awaits a repository write, turning a `UniqueViolation` into the error `refuse` makes of it (a 409). */
export async function unlessTaken<T>(write: Promise<T>, refuse: (violation: UniqueViolation) => Error): Promise<T> {
  try {
    return await write;
  } catch (err) {
    if (err instanceof UniqueViolation) throw refuse(err);
    throw err;
  }
}
