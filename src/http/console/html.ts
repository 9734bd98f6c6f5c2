import type { Context } from 'koa';
import { covers } from '../../services/admin-delegation.ts';
import { ensureSecurityHeaders } from '../middleware/security-headers.ts';
import type { ConsoleVisitor } from './session.ts';

/** Markup that is already safe: made by `html` (whose values are escaped) or by our own code. */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString() {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeText = (value: string) => value.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

const render = (value: Value): string => {
  if (value === null || value === undefined || value === false || value === true) return '';
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeText(String(value));
};

/** A template whose interpolated values are escaped (text and attribute values alike: always quote attributes). */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0] ?? '';
  for (const [i, value] of values.entries()) out += render(value) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** The console's sections, each shown only to whom its read scope covers. */
const SECTIONS = [
  { href: '/console', label: 'Overview', scope: undefined },
  { href: '/console/clients', label: 'Clients', scope: 'clients:read' },
  { href: '/console/apis', label: 'APIs', scope: 'resources:read' },
  { href: '/console/roles', label: 'Roles', scope: 'roles:read' },
  { href: '/console/users', label: 'Users', scope: 'users:read' },
  { href: '/console/keys', label: 'Signing keys', scope: 'keys:read' },
  { href: '/console/events', label: 'Events', scope: 'events:read' },
] as const;

export interface PageOptions {
  title: string;
  /** the section the page belongs to, for aria-current */
  section?: string | undefined;
  visitor?: ConsoleVisitor | undefined;
  csrf?: string | undefined;
  notice?: string | undefined;
  status?: number | undefined;
}

/**
 * Renders a console page: landmarks (banner, navigation, main), a skip link, the sections the
 * visitor's scopes open, and never cached (pages may show a secret once).
 */
export function page(ctx: Context, options: PageOptions, body: Html): void {
  ensureSecurityHeaders(ctx);
  const { visitor } = options;
  const nav = visitor
    ? SECTIONS.filter((s) => s.scope === undefined || covers(visitor.power, s.scope)).map(
        (s) =>
          html`<li><a href="${s.href}"${new Html(options.section === s.href ? ' aria-current="page"' : '')}>${s.label}</a></li>`,
      )
    : [];
  ctx.status = options.status ?? 200;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta name="color-scheme" content="light dark">
<title>${options.title} · Admin console</title>
<link rel="stylesheet" href="/static/console.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="product">Admin console</span>
  ${
    visitor
      ? html`<form method="post" action="/console/signout" class="signout">
    <input type="hidden" name="csrf" value="${options.csrf ?? ''}">
    <span class="who">Signed in as <strong>${visitor.name}</strong></span>
    <button type="submit" class="link">Sign out</button>
  </form>`
      : ''
  }
</header>
${nav.length > 0 ? html`<nav aria-label="Console sections"><ul class="sections">${nav}</ul></nav>` : ''}
<main id="main" tabindex="-1">
<h1>${options.title}</h1>
${options.notice ? html`<p class="notice" role="status">${options.notice}</p>` : ''}
${body}
</main>
</body>
</html>
`.value;
}

/** An error from the admin API, with the fields it names, for above a form. */
export function problem(
  error: { message: string; details?: readonly { field: string; message: string }[] } | undefined,
): Html {
  if (!error) return html``;
  return html`<div class="error" role="alert"><p>${error.message}</p>${
    error.details && error.details.length > 0
      ? html`<ul>${error.details.map((d) => html`<li><code>${d.field}</code>: ${d.message}</li>`)}</ul>`
      : ''
  }</div>`;
}

/** A form that posts with the visitor's CSRF token. */
export const csrfField = (token: string) => html`<input type="hidden" name="csrf" value="${token}">`;

/** Shows a date as UTC to the minute. */
export const when = (iso: string | null | undefined) =>
  iso
    ? html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`
    : html`<span class="muted">never</span>`;
