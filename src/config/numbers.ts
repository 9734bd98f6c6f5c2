import { z } from 'zod';

/**
 * A whole number from an environment variable. The message states the bounds, so that
 * `RATE_LIMIT_TOKEN=100000000` says what is allowed rather than "must be a number". Only
 * digits are taken: `1e3`, `0x10`, `-1`, `1.5` and `Infinity` are refused, and an empty
 * value is unset (Number('') is 0, which for a rate limit would silently mean "no limit").
 */
function wholeNumber(min: number, max: number) {
  const message = `must be a whole number from ${min} to ${max}`;
  return z
    .string()
    .optional()
    .transform((raw, ctx): number | undefined => {
      const v = raw?.trim();
      if (v === undefined || v === '') return undefined;
      const n = /^\d{1,16}$/.test(v) ? Number(v) : Number.NaN;
      if (!(n >= min && n <= max)) {
        ctx.addIssue({ code: 'custom', message: `${message} (got ${v.length > 24 ? `${v.slice(0, 24)}...` : v})` });
        return z.NEVER;
      }
      return n;
    });
}

/** A whole number in [min, max]; `fallback` when unset or empty. */
export const integerEnv = (min: number, max: number, fallback: number) =>
  wholeNumber(min, max).transform((n) => n ?? fallback);

/** A whole number in [min, max], or undefined when unset or empty. */
export const optionalIntegerEnv = (min: number, max: number) => wholeNumber(min, max);
