import type { Middleware } from 'koa';
import { AppError } from '../../errors.ts';
import { writeError } from './errors.ts';

/** A route's path split into segments; `null` stands for a parameter (`:uid`, `{*rest}`). */
type Template = readonly (string | null)[];

// RFC 3986 §2.3: these are never percent-encoded in a canonical URI (§6.2.2.2)
const ENCODED_UNRESERVED = /%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DEde]|5[Ff]|7[Ee])/;
// RFC 3986 §6.2.2.1: percent-encodings use upper-case hex digits; a `%` must start one
const BAD_PERCENT = /%(?![0-9A-F]{2})/;
// what a path of ours never needs raw: controls, non-ASCII (folded by some routers), `\`, `;` (matrix parameters)
const FORBIDDEN_CHARACTER = /[^\x21-\x7e]|[\\;]/;

export function templateOf(path: string): Template {
  return path.split('/').map((segment) => (segment.startsWith(':') || segment.startsWith('{') ? null : segment));
}

/**
 * Whether `path` is the one spelling of a path we serve. oidc-provider's router and
 * @koa/router both match case-insensitively and with or without a trailing slash, while every
 * rate limit, event and metric keyed on a path compares it exactly: `/TOKEN` or `/token/`
 * would reach the token endpoint past its limits. So a request is served only under the
 * spelling the routes are declared with; any other spelling of a route is refused before
 * anything looks at the path, and then no router can fold it onto a route.
 */
export function isCanonicalPath(path: string, templates: readonly Template[]): boolean {
  if (path === '/') return true;
  if (path.endsWith('/') || path.includes('//') || FORBIDDEN_CHARACTER.test(path)) return false;
  if (path.includes('%') && (ENCODED_UNRESERVED.test(path) || BAD_PERCENT.test(path))) return false;
  const segments = path.split('/');
  if (segments.some((segment) => segment === '.' || segment === '..')) return false;
  // letters in another case than a route's: the common case (all lower-case) needs no lookup
  if (!/[A-Z]/.test(path)) return true;
  for (const template of templates) {
    if (differsOnlyInCase(segments, template)) return false;
  }
  return true;
}

/** The path runs along the template (or a prefix of it) with a literal segment in another case. */
function differsOnlyInCase(segments: readonly string[], template: Template): boolean {
  let folded = false;
  const length = Math.min(segments.length, template.length);
  for (let i = 1; i < length; i++) {
    const literal = template[i];
    const segment = segments[i] ?? '';
    if (literal === null || literal === undefined || literal === segment) continue;
    if (literal.toLowerCase() !== segment.toLowerCase()) return false;
    folded = true;
  }
  return folded;
}

/**
 * 404 for any spelling of a path other than the canonical one (see `isCanonicalPath`).
 * `templates` is read on each request: routers are added after this middleware is made.
 */
export function canonicalPaths(templates: () => readonly Template[]): Middleware {
  // not async: one promise and one frame less on every request
  return (ctx, next) => {
    if (!isCanonicalPath(ctx.path, templates())) {
      writeError(ctx, new AppError('not_found', 404, 'no such path'));
      return Promise.resolve();
    }
    return next();
  };
}
