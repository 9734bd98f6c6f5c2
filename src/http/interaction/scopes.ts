/** One line of the consent page: what the application may do, as catalog keys (views/locales) and their placeholders. */
export interface Permission {
  title: string;
  detail?: string;
  vars?: Readonly<Record<string, string>>;
}

/** The OIDC scopes with words of their own (`scope.<name>.title`, and `.detail` where there is one). */
const OIDC_SCOPES: Record<string, Permission> = {
  openid: { title: 'scope.openid.title', detail: 'scope.openid.detail' },
  profile: { title: 'scope.profile.title', detail: 'scope.profile.detail' },
  email: { title: 'scope.email.title', detail: 'scope.email.detail' },
  phone: { title: 'scope.phone.title' },
  address: { title: 'scope.address.title' },
  offline_access: { title: 'scope.offline_access.title', detail: 'scope.offline_access.detail' },
};

const ACTIONS: Record<string, string> = {
  read: 'scope.api.read',
  write: 'scope.api.write',
  delete: 'scope.api.delete',
  admin: 'scope.api.manage',
  manage: 'scope.api.manage',
};

/** "orders:read" -> "View {thing}" with thing "orders"; anything else -> "Use “{scope}”". */
export function describeApiScope(scope: string): Permission {
  const match = /^([\w.-]+)[:.](read|write|delete|admin|manage)$/i.exec(scope);
  const verb = match?.[2] && ACTIONS[match[2].toLowerCase()];
  if (match?.[1] && verb) return { title: verb, vars: { thing: match[1].replace(/[._-]+/g, ' ') } };
  return { title: 'scope.api.other', vars: { scope } };
}

/**
 * The consent page's list: OIDC scopes in a fixed, familiar order (unknown ones last), then each
 * API's scopes with the API named.
 */
export function describePermissions(
  scopes: readonly string[],
  resourceScopes: Readonly<Record<string, readonly string[]>> = {},
  resourceNames: Readonly<Record<string, string>> = {},
): Permission[] {
  const known = Object.keys(OIDC_SCOPES);
  const ordered = [...new Set(scopes)].sort((a, b) => {
    const ia = known.indexOf(a);
    const ib = known.indexOf(b);
    return (ia === -1 ? known.length : ia) - (ib === -1 ? known.length : ib);
  });
  const list: Permission[] = ordered.map((scope) => OIDC_SCOPES[scope] ?? describeApiScope(scope));
  for (const [resource, names] of Object.entries(resourceScopes)) {
    const api = resourceNames[resource] ?? resource;
    for (const scope of new Set(names)) {
      const described = describeApiScope(scope);
      list.push({ ...described, detail: 'scope.api.in', vars: { ...described.vars, api } });
    }
  }
  return list;
}
