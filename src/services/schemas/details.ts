import type { z } from 'zod';
import type { ErrorDetail } from '../../errors.ts';

/** A zod error as the error details the admin API answers with (and the CLI prints). */
export function zodDetails(error: z.ZodError, prefix?: string): ErrorDetail[] {
  return error.issues.map((issue) => {
    const path = [...(prefix ? [prefix] : []), ...issue.path.map(String)];
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    return {
      field: [...path, ...(keys.length === 1 ? keys : [])].join('.') || '(body)',
      message: keys.length > 1 ? `unknown fields: ${keys.join(', ')}` : issue.message,
    };
  });
}
