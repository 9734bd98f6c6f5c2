import type { Context, Next } from 'koa';
import type { z } from 'zod';
import { AppError } from '../../errors.ts';
import { zodDetails } from '../../services/schemas/details.ts';
import { readJsonBody } from './json-body.ts';

export interface GuardSchemas<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType> {
  body?: B;
  query?: Q;
  params?: P;
}

export interface Guarded<B, Q, P> {
  body: B;
  query: Q;
  params: P;
}

function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = zodDetails(result.error, where === 'body' ? undefined : where);
  throw new AppError('invalid_request', 400, `invalid ${where}: ${details[0]?.field}: ${details[0]?.message}`, details);
}

/**
 * Validates body, query and path parameters with zod at the edge and hands the handler
 * typed values on `ctx.state.guard`; unknown fields are refused by the (strict) schemas.
 */
export function guard<
  B extends z.ZodType = z.ZodUnknown,
  Q extends z.ZodType = z.ZodUnknown,
  P extends z.ZodType = z.ZodUnknown,
>(schemas: GuardSchemas<B, Q, P>) {
  const guardMiddleware = async (ctx: Context & { params?: Record<string, string> }, next: Next) => {
    const guarded: Guarded<unknown, unknown, unknown> = {
      body: schemas.body ? parse(schemas.body, await readJsonBody(ctx), 'body') : undefined,
      query: schemas.query ? parse(schemas.query, { ...ctx.query }, 'query') : undefined,
      params: schemas.params ? parse(schemas.params, ctx.params ?? {}, 'params') : undefined,
    };
    ctx.state.guard = guarded;
    await next();
  };
  // the OpenAPI document is generated from the schemas the routes validate with
  return Object.assign(guardMiddleware, { guardSchemas: schemas as GuardSchemas<z.ZodType, z.ZodType, z.ZodType> });
}

/** The typed values `guard` validated; call it only behind the matching `guard`. */
export function guarded<
  B extends z.ZodType = z.ZodUnknown,
  Q extends z.ZodType = z.ZodUnknown,
  P extends z.ZodType = z.ZodUnknown,
>(ctx: Context, _schemas: GuardSchemas<B, Q, P>): Guarded<z.infer<B>, z.infer<Q>, z.infer<P>> {
  return ctx.state.guard as Guarded<z.infer<B>, z.infer<Q>, z.infer<P>>;
}
