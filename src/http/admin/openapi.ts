import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { ADMIN_SCOPES } from '../../services/admin-delegation.ts';
import { ErrorBody } from '../../services/schemas/responses.ts';
import type { GuardSchemas } from '../middleware/guard.ts';

interface ResponseSchema {
  /** the name of the schema in `components.schemas` */
  name: string;
  schema: z.ZodType;
  status: 200 | 201 | 202;
}
type Annotated = {
  guardSchemas?: GuardSchemas<z.ZodType, z.ZodType, z.ZodType>;
  requiredScope?: string;
  responseSchema?: ResponseSchema;
};
type JsonSchema = Record<string, unknown>;

/**
 * Marks a route with the schema of the body it answers with, for the OpenAPI document (it
 * does nothing at request time). A route without one answers 204 with no body.
 */
export function responds(name: string, schema: z.ZodType, status: 200 | 201 | 202 = 200): Middleware {
  const mark: Middleware = (_ctx, next) => next();
  return Object.assign(mark, { responseSchema: { name, schema, status } satisfies ResponseSchema });
}

/** the document and its reference page: about the API, not part of it */
const PUBLIC_PAGES = new Set(['/admin/openapi.json', '/admin/docs']);

const toSchema = (schema: z.ZodType, io: 'input' | 'output' = 'input'): JsonSchema => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'any',
  });
  return rest;
};

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

function summaryOf(method: string, path: string): string {
  const literals = path.split('/').filter((part) => part && part !== 'admin' && !part.startsWith('{'));
  const noun = literals.at(-1) ?? '';
  const parent = literals.length > 1 ? literals[0]?.replace(/s$/, '') : undefined;
  if (noun === 'secret') return `Rotate the secret of a ${parent}`;
  if (noun === 'rotate') return `Rotate the ${parent}s`;
  if (noun === 'unlock') return `Unlock a ${parent}'s sign-in`;
  const one = path.endsWith('}');
  const verb = { get: one ? 'Get' : 'List', post: 'Create', patch: 'Change', delete: 'Delete' }[method] ?? method;
  const what = one ? `a ${noun.replace(/s$/, '')}` : noun;
  return `${verb} ${what}${parent ? ` of a ${parent}` : ''}`;
}

/**
 * The OpenAPI 3.1 document of the admin API, generated from the routes themselves: their
 * paths and methods from the router, their request schemas from the zod schemas `guard`
 * validates with, their scopes from `requireScope`. No hand-kept copy to drift.
 */
export function buildOpenApi(router: Router, issuer: string, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const components: Record<string, JsonSchema> = { Error: toSchema(ErrorBody, 'output') };
  for (const layer of router.stack) {
    const methods = layer.methods.filter((m) => m !== 'HEAD').map((m) => m.toLowerCase());
    if (methods.length === 0 || layer.name === 'not-found' || PUBLIC_PAGES.has(String(layer.path))) continue;
    const annotated = layer.stack as Annotated[];
    const schemas = annotated.find((fn) => fn.guardSchemas)?.guardSchemas ?? {};
    const scope = annotated.find((fn) => fn.requiredScope)?.requiredScope;
    const response = annotated.find((fn) => fn.responseSchema)?.responseSchema;
    if (response) components[response.name] ??= toSchema(response.schema, 'output');
    const raw = String(layer.path);
    const path = raw.replace(/:(\w+)/g, '{$1}');

    const parameters: unknown[] = [...raw.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    if (schemas.query) {
      const query = toSchema(schemas.query) as { properties?: Record<string, JsonSchema>; required?: string[] };
      for (const [name, schema] of Object.entries(query.properties ?? {})) {
        parameters.push({ name, in: 'query', required: query.required?.includes(name) ?? false, schema });
      }
    }

    for (const method of methods) {
      const ok = response
        ? {
            [response.status]: {
              description: response.status === 201 ? 'Created' : response.status === 202 ? 'Accepted' : 'OK',
              content: { 'application/json': { schema: { $ref: `#/components/schemas/${response.name}` } } },
            },
          }
        : { 204: { description: method === 'delete' ? 'Deleted' : 'Done' } };
      paths[path] ??= {};
      paths[path][method] = {
        summary: summaryOf(method, path),
        operationId: `${method}${path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_: string, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
        ...(scope ? { security: [{ adminToken: [scope] }] } : {}),
        ...(parameters.length ? { parameters } : {}),
        ...(schemas.body
          ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(schemas.body) } } } }
          : {}),
        responses: {
          ...ok,
          400: errorResponse('Bad input; `details` names the fields'),
          401: errorResponse('Missing, invalid, expired or revoked access token'),
          403: errorResponse('The token lacks the scope, or the change would grant or touch more than the token holds'),
          ...(parameters.some((p) => (p as { in: string }).in === 'path') ? { 404: errorResponse('Not found') } : {}),
          ...(method === 'patch' || method === 'delete'
            ? { 412: errorResponse('The record changed since it was read (If-Match), or a concurrent change won') }
            : {}),
          ...(method === 'post' || method === 'patch'
            ? {
                409: errorResponse('Conflict'),
                413: errorResponse('Body over 64 KiB'),
                415: errorResponse('Body is not application/json'),
              }
            : {}),
        },
      };
    }
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'idp admin API',
      version,
      description: 'Manage clients, APIs (resources), users, roles and keys. Every change takes effect at once.',
    },
    servers: [{ url: issuer }],
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        adminToken: {
          type: 'oauth2',
          description: `Client credentials for the resource ${issuer}/admin; the scope admin grants everything.`,
          flows: {
            clientCredentials: {
              tokenUrl: `${issuer}/token`,
              scopes: Object.fromEntries(
                ADMIN_SCOPES.map((s) => [s, s === 'admin' ? 'everything' : s.replace(':', ': ')]),
              ),
            },
          },
        },
      },
    },
  };
}
