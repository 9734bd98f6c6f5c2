import { z } from 'zod';

// The admin model's rules for APIs and roles: the admin API and the CLI validate with these,
// so both refuse the same things.

const scopeToken = z
  .string()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/, 'must be a scope token (RFC 6749 §3.3: no spaces or quotes)');

export const scopeList = z
  .array(scopeToken)
  .max(200)
  .refine((list) => new Set(list).size === list.length, 'must not list a scope twice');

export const resourceIdentifier = z
  .string()
  .max(2048)
  .refine((v) => {
    const url = URL.parse(v);
    return (
      url !== null &&
      !v.includes('#') &&
      (url.protocol === 'https:' || url.protocol === 'http:' || url.protocol === 'urn:')
    );
  }, 'must be an absolute URI without a fragment (RFC 8707 §2)');

export const NewResource = z.strictObject({
  identifier: resourceIdentifier,
  name: z.string().trim().min(1).max(200),
  scopes: scopeList.default([]),
  accessTokenTtl: z.number().int().min(60).max(86_400).default(300),
  rolesClaim: z.boolean().default(false),
});

// A PATCH changes the fields it names: a field left out has no value at all (not a default)
export const ResourcePatch = z
  .strictObject({
    name: NewResource.shape.name.exactOptional(),
    scopes: scopeList.exactOptional(),
    accessTokenTtl: z.number().int().min(60).max(86_400).exactOptional(),
    rolesClaim: z.boolean().exactOptional(),
  })
  .refine((v) => Object.keys(v).length > 0, 'name at least one field to change');

const roleName = z.string().regex(/^[A-Za-z0-9][\w.:-]{0,99}$/, 'must be 1 to 100 characters of A-Z a-z 0-9 _ . : -');

/** Role names on a user or a client (they must exist). */
export const RoleNames = z
  .array(roleName)
  .max(50)
  .refine((list) => new Set(list).size === list.length, 'must not list a role twice');

const permission = z.strictObject({ resource: resourceIdentifier, scope: scopeToken });
const permissions = z
  .array(permission)
  .max(500)
  .refine(
    (list) => new Set(list.map((p) => `${p.resource} ${p.scope}`)).size === list.length,
    'must not list a permission twice',
  );
const roleDescription = z.string().trim().max(500).nullable();

export const NewRole = z.strictObject({
  name: roleName,
  description: roleDescription.optional(),
  permissions: permissions.default([]),
});

// not NewRole.partial(): a default inside it would fill in a field the PATCH left out
// (renaming a role would empty its permissions)
export const RolePatch = z
  .strictObject({
    name: roleName.exactOptional(),
    description: roleDescription.exactOptional(),
    permissions: permissions.exactOptional(),
  })
  .refine((v) => Object.keys(v).length > 0, 'name at least one field to change');
