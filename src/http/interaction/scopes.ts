/** One line of the consent page: what the application may do, in plain words. */
export interface Permission {
  title: string;
  detail?: string;
}

const OIDC_SCOPES: Record<string, Permission> = {
  openid: { title: 'Know who you are', detail: 'Your account identifier on this server' },
  profile: { title: 'See your profile', detail: 'Your name and username' },
  email: { title: 'See your email address', detail: 'And whether it has been verified' },
  phone: { title: 'See your phone number' },
  address: { title: 'See your postal address' },
  offline_access: {
    title: 'Stay connected',
    detail: 'Keep access to what you allow here when you are not using the application',
  },
};

const ACTIONS: Record<string, string> = {
  read: 'View',
  write: 'Create and change',
  delete: 'Delete',
  admin: 'Manage',
  manage: 'Manage',
};

/** "orders:read" -> "View orders"; anything else -> "Use “scope”". */
export function describeApiScope(scope: string): string {
  const match = /^([\w.-]+)[:.](read|write|delete|admin|manage)$/i.exec(scope);
  const verb = match?.[2] && ACTIONS[match[2].toLowerCase()];
  if (match?.[1] && verb) return `${verb} ${match[1].replace(/[._-]+/g, ' ')}`;
  return `Use “${scope}”`;
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
  const list: Permission[] = ordered.map((scope) => OIDC_SCOPES[scope] ?? { title: describeApiScope(scope) });
  for (const [resource, names] of Object.entries(resourceScopes)) {
    const api = resourceNames[resource] ?? resource;
    for (const scope of new Set(names)) list.push({ title: describeApiScope(scope), detail: `In ${api}` });
  }
  return list;
}
