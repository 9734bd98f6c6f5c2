import type { Context, Middleware } from 'koa';
import { covers } from '../../services/admin-delegation.ts';
import type { Csrf } from '../middleware/csrf.ts';
import { type Html, html, type PageOptions, page } from './html.ts';
import { inProcess } from './in-process.ts';
import { type ConsoleVisitor, visitorOf } from './session.ts';

/** The admin API said the token is no good (expired, revoked, its user disabled): sign in again. */
export class SignInAgain extends Error {
  override name = 'SignInAgain';
}

/** An admin API error, as the console shows it above a form. */
export interface ApiProblem {
  status: number;
  message: string;
  details?: { field: string; message: string }[];
}

export type ApiResult<T> = { ok: true; status: number; body: T } | { ok: false; problem: ApiProblem };

/** What every console page needs: the admin API (as the visitor), its scopes, CSRF, rendering. */
export interface ConsoleKit {
  /** calls the admin API in-process with the visitor's own token: its scopes and rules decide */
  api<T = Record<string, unknown>>(ctx: Context, method: string, path: string, body?: unknown): Promise<ApiResult<T>>;
  /** GETs and throws on failure (the page cannot be drawn without it) */
  read<T = Record<string, unknown>>(ctx: Context, path: string): Promise<T>;
  can(ctx: Context, scope: string): boolean;
  csrf(ctx: Context): string;
  render(ctx: Context, options: Omit<PageOptions, 'visitor' | 'csrf'>, body: Html): void;
  /** a form POST: signed in, a readable form, the visitor's CSRF token */
  form: Middleware;
  /** whether the admin API has this route (some actions come with other features) */
  hasRoute(method: string, path: string): boolean;
  /** 303 to a console page with a fixed notice */
  back(ctx: Context, path: string, notice?: string): void;
}

export function createKit(deps: {
  csrf: Csrf;
  form: Middleware;
  adminRoutes: readonly { path: string; methods: readonly string[] }[];
}): ConsoleKit {
  const visitor = (ctx: Context): ConsoleVisitor => visitorOf(ctx);
  const api: ConsoleKit['api'] = async <T>(ctx: Context, method: string, path: string, body?: unknown) => {
    const answer = await inProcess(ctx, {
      method,
      path: `/admin${path}`,
      headers: {
        authorization: `Bearer ${visitor(ctx).token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (answer.status === 401) throw new SignInAgain();
    if (answer.status >= 200 && answer.status < 300) return { ok: true, status: answer.status, body: answer.body as T };
    const error = (answer.body ?? {}) as { error_description?: unknown; details?: unknown };
    return {
      ok: false,
      problem: {
        status: answer.status,
        message:
          answer.status === 403
            ? `Your admin access does not allow this: ${String(error.error_description ?? 'forbidden')}.`
            : String(error.error_description ?? `the admin API answered ${answer.status}`),
        ...(Array.isArray(error.details) ? { details: error.details as ApiProblem['details'] & object } : {}),
      },
    };
  };
  return {
    api,
    async read<T>(ctx: Context, path: string) {
      const result = await api<T>(ctx, 'GET', path);
      if (!result.ok) throw Object.assign(new Error(result.problem.message), { problem: result.problem });
      return result.body;
    },
    can: (ctx, scope) => covers(visitor(ctx).power, scope),
    csrf: (ctx) => deps.csrf.token(`console:${visitor(ctx).nonce}`),
    render(ctx, options, body) {
      page(ctx, { ...options, visitor: visitor(ctx), csrf: deps.csrf.token(`console:${visitor(ctx).nonce}`) }, body);
    },
    form: deps.form,
    hasRoute: (method, path) =>
      deps.adminRoutes.some((layer) => layer.path === path && layer.methods.includes(method.toUpperCase())),
    back(ctx, path, notice) {
      ctx.status = 303;
      ctx.redirect(notice ? `${path}${path.includes('?') ? '&' : '?'}notice=${notice}` : path);
    },
  };
}

/** Lines of a textarea, trimmed, without empty ones. */
export const lines = (value: string | undefined) =>
  (value ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);

/** Words separated by spaces or commas. */
export const words = (value: string | undefined) => (value ?? '').split(/[\s,]+/).filter(Boolean);

/** A link-button to a page, or nothing when the visitor may not do it. */
export const actionLink = (allowed: boolean, href: string, label: string) =>
  allowed ? html`<a class="button" href="${href}">${label}</a>` : '';

/** A confirmation page: what happens, a button that posts, and a way back. */
export function confirmPage(
  kit: ConsoleKit,
  ctx: Context,
  options: {
    title: string;
    section: string;
    text: Html | string;
    action: string;
    button: string;
    cancel: string;
    danger?: boolean;
  },
) {
  kit.render(
    ctx,
    { title: options.title, section: options.section },
    html`<p>${options.text}</p>
<form method="post" action="${options.action}"><input type="hidden" name="csrf" value="${kit.csrf(ctx)}">
<button type="submit"${options.danger ? html` class="danger"` : ''}>${options.button}</button> <a href="${options.cancel}">Cancel</a></form>`,
  );
}
