/**
 * The cookies of one simulated browser on one origin (RFC 6265 §5.3, the part a sign-in needs):
 * stored by name, sent only to paths under their Path (§5.1.4), removed when the server expires
 * them. oidc-provider scopes its interaction cookies by path (`/interaction/<uid>`,
 * `/auth/<uid>`), so a jar that ignored Path would send cookies a browser would not.
 */
export interface CookieJar {
  /** stores the `set-cookie` headers of a response to a request for `requestPath` */
  store(setCookies: readonly string[], requestPath: string): void;
  /** the `cookie` header for a request to `path`, or undefined when no cookie applies */
  header(path: string): string | undefined;
  /** `name (path)` of every cookie held, to explain a failed flow */
  names(): string[];
}

interface Cookie {
  readonly name: string;
  readonly value: string;
  readonly path: string;
}

/** RFC 6265 §5.1.4: the default path is the request path up to, not including, its last `/`. */
function defaultPath(requestPath: string): string {
  const slash = requestPath.lastIndexOf('/');
  return slash <= 0 ? '/' : requestPath.slice(0, slash);
}

/** RFC 6265 §5.1.4 path-match. */
function pathMatches(cookiePath: string, path: string): boolean {
  if (path === cookiePath) return true;
  if (!path.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || path[cookiePath.length] === '/';
}

export function createCookieJar(): CookieJar {
  const cookies = new Map<string, Cookie>();
  return {
    store(setCookies, requestPath) {
      for (const line of setCookies) {
        const [pair = '', ...attributes] = line.split(';');
        const eq = pair.indexOf('=');
        if (eq <= 0) continue; // §5.2: a cookie without a name is ignored
        const name = pair.slice(0, eq).trim();
        const value = pair.slice(eq + 1).trim();
        let path = defaultPath(requestPath);
        let expired = false;
        for (const attribute of attributes) {
          const at = attribute.indexOf('=');
          const key = (at < 0 ? attribute : attribute.slice(0, at)).trim().toLowerCase();
          const arg = at < 0 ? '' : attribute.slice(at + 1).trim();
          if (key === 'path' && arg.startsWith('/')) path = arg;
          else if (key === 'max-age' && /^-?\d+$/.test(arg)) expired = Number(arg) <= 0;
          else if (key === 'expires' && Date.parse(arg) <= Date.now()) expired = true;
        }
        // §5.3 step 11: a cookie replaces the one of the same name and path (one origin: no domain)
        const key = `${name};${path}`;
        if (expired) cookies.delete(key);
        else cookies.set(key, { name, value, path });
      }
    },
    header(path) {
      const pairs: string[] = [];
      for (const c of cookies.values()) if (pathMatches(c.path, path)) pairs.push(`${c.name}=${c.value}`);
      return pairs.length === 0 ? undefined : pairs.join('; ');
    },
    names: () => [...cookies.values()].map((c) => `${c.name} (${c.path})`),
  };
}
