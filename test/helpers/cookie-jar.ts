/**
 * The cookies of one simulated browser on one origin (RFC 6265 §5.3, the part a sign-in needs),
 * shared by the integration tests and the sign-in bench: stored by name and Path, sent only to
 * paths under their Path (§5.1.4), removed when the server expires them. oidc-provider scopes its
 * interaction cookies by path (`/interaction/<uid>`, `/auth/<uid>`), so a jar that ignored Path
 * would send cookies a browser would not.
 */
export class CookieJar {
  /** by `name;path`, least recently set first */
  readonly #cookies = new Map<string, Cookie>();

  /**
   * Stores the `set-cookie` headers of `res`, the answer to a request for `requestPath`
   * (by default the path of `res.url`; `/` when the response has no URL).
   */
  store(res: { readonly headers: Headers; readonly url?: string }, requestPath = pathOf(res.url)): void {
    this.storeLines(res.headers.getSetCookie(), requestPath);
  }

  /** Stores `set-cookie` header values received for a request to `requestPath`. */
  storeLines(setCookies: readonly string[], requestPath: string): void {
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
      this.#cookies.delete(key);
      if (!expired) this.#cookies.set(key, { name, value, path });
    }
  }

  /**
   * The `cookie` header for a request to `path` ('' when no cookie applies). Without a path,
   * every cookie held, the most recently set one of each name: for a test that hands the jar's
   * cookies to a request it builds itself.
   */
  header(path?: string): string {
    const pairs = new Map<string, string>();
    for (const c of this.#cookies.values()) {
      if (path === undefined) pairs.set(c.name, c.value);
      else if (pathMatches(c.path, path)) pairs.set(`${c.name};${c.path}`, c.value);
    }
    return [...pairs].map(([key, value]) => `${key.split(';')[0]}=${value}`).join('; ');
  }

  /** `name (path)` of every cookie held, to explain a failed flow */
  names(): string[] {
    return [...this.#cookies.values()].map((c) => `${c.name} (${c.path})`);
  }
}

interface Cookie {
  readonly name: string;
  readonly value: string;
  readonly path: string;
}

function pathOf(url: string | undefined): string {
  return url ? new URL(url).pathname : '/';
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
