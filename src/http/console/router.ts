import { Router } from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Logger } from '../../logger.ts';
import { CONSOLE_CLIENT_ID } from '../../services/builtin-clients.ts';
import type { Activity } from '../../services/event-activity.ts';
import type { Csrf } from '../middleware/csrf.ts';
import { csrfForm } from '../middleware/csrf.ts';
import { barChart } from './charts.ts';
import { html, page, when } from './html.ts';
import { inProcess } from './in-process.ts';
import { createKit, SignInAgain } from './kit.ts';
import { clientPages } from './pages-clients.ts';
import { directoryPages } from './pages-directory.ts';
import { operationPages } from './pages-operations.ts';
import { userPages } from './pages-users.ts';
import { createConsoleSession, visitorOf } from './session.ts';

/** Notices shown after a redirect (fixed words: nothing from the URL reaches the page). */
const NOTICES: Record<string, string> = {
  created: 'Created.',
  saved: 'Saved.',
  deleted: 'Deleted.',
  rotated: 'Rotated.',
  unlocked: 'Sign-in lockout lifted.',
  disabled: 'The user is disabled: they cannot sign in and their refresh tokens stopped working.',
  enabled: 'The user can sign in again.',
  'mfa-reset': 'Second factors removed.',
  'reset-sent': 'A password reset link was mailed.',
  'sessions-ended': 'Sessions ended.',
};

export interface ConsoleRouterOptions {
  issuer: string;
  adminAudience: string;
  adminScopes: readonly string[];
  /** AES-256-GCM key of the session cookie */
  sessionKey: Buffer;
  clientSecret: string;
  csrf: Csrf;
  /** the admin API's routes (path and methods), to show only the actions it has */
  adminRoutes: () => readonly { path: string; methods: readonly string[] }[];
  log: Logger;
}

/**
 * The admin console at /console: server-rendered pages that act through the admin API with the
 * signed-in person's own admin API token (docs/decisions/0019-admin-console.md).
 */
export function createConsoleRouter(options: ConsoleRouterOptions): Router {
  const { issuer, csrf } = options;
  const router = new Router();
  const sessions = createConsoleSession({
    issuer,
    adminAudience: options.adminAudience,
    key: options.sessionKey,
    clientSecret: options.clientSecret,
    scopes: options.adminScopes,
  });

  const plainError = (ctx: Context, status: number, title: string, message: string) =>
    page(ctx, { title, status }, html`<p>${message}</p><p><a href="/console">Back to the console</a></p>`);

  const form = csrfForm(csrf, (ctx) => `console:${visitorOf(ctx).nonce}`, {
    unreadable: (ctx, err) => plainError(ctx, err.status, 'This form could not be read', err.message),
    forbidden: (ctx) =>
      plainError(
        ctx,
        403,
        'This form has expired',
        'For your security it was not accepted. Reload the page and try again.',
      ),
  });
  let routes: readonly { path: string; methods: readonly string[] }[] | undefined;
  const kit = createKit({
    csrf,
    form,
    get adminRoutes() {
      routes ??= options.adminRoutes();
      return routes;
    },
  });

  /** Signed in with some admin scope; an expired or refused token means a new sign-in, not an error. */
  const signedIn: Middleware = async (ctx, next) => {
    await sessions.load(ctx, async () => {
      if (visitorOf(ctx).power.size === 0) return noAccess(ctx);
      try {
        await next();
      } catch (err) {
        if (!(err instanceof SignInAgain)) throw err;
        sessions.clear(ctx);
        sessions.toSignIn(ctx, ctx.method === 'GET' ? ctx.url : ctx.path);
      }
    });
  };

  const noAccess = (ctx: Context) =>
    page(
      ctx,
      { title: 'You have no admin access', status: 403, visitor: visitorOf(ctx), csrf: kit.csrf(ctx) },
      html`<p>You are signed in as <strong>${visitorOf(ctx).name}</strong>, but none of your roles grants a scope of the admin API.</p>
<p>An administrator can give you access with a role whose permissions include the resource <code>${options.adminAudience}</code> and a scope such as <code>clients:read</code>. Sign in again once they have.</p>`,
    );

  router.get('/console/callback', async (ctx) => {
    const result = await sessions.finish(ctx);
    if (!result.ok) {
      if (result.reason === 'state') {
        return plainError(ctx, 400, 'This sign-in link has expired', 'Open the console again to sign in.');
      }
      options.log.info({ error: result.error }, 'console sign-in did not complete');
      return plainError(
        ctx,
        400,
        'You are not signed in',
        'Signing in to the console did not complete. Open the console to try again.',
      );
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(result.back);
  });

  router.get('/console/signed-out', (ctx) =>
    page(
      ctx,
      { title: 'Signed out' },
      html`<p>You are signed out of the console.</p><p><a href="/console">Sign in again</a></p>`,
    ),
  );

  router.post('/console/signout', sessions.load, form, async (ctx) => {
    const { token } = visitorOf(ctx);
    // RFC 7009: the admin token stops working now, not when it expires
    await inProcess(ctx, {
      method: 'POST',
      path: '/token/revocation',
      headers: {
        authorization: `Basic ${Buffer.from(`${CONSOLE_CLIENT_ID}:${encodeURIComponent(options.clientSecret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    });
    sessions.clear(ctx);
    // and the server's own session ends too (RP-initiated logout), or the next visit would sign in silently
    const end = new URL(`${issuer}/session/end`);
    end.search = new URLSearchParams({
      client_id: CONSOLE_CLIENT_ID,
      post_logout_redirect_uri: `${issuer}/console/signed-out`,
    }).toString();
    ctx.status = 303;
    ctx.redirect(end.href);
  });

  router.get('/console', signedIn, async (ctx) => {
    const window = ctx.query.window === 'day' ? 'day' : 'hour';
    const links = html`<ul class="cards">
${kit.can(ctx, 'clients:read') ? html`<li><a href="/console/clients">Clients</a>: applications and services that get tokens</li>` : ''}
${kit.can(ctx, 'resources:read') ? html`<li><a href="/console/apis">APIs</a>: resource servers and their scopes</li>` : ''}
${kit.can(ctx, 'roles:read') ? html`<li><a href="/console/roles">Roles</a>: what people and clients may do</li>` : ''}
${kit.can(ctx, 'users:read') ? html`<li><a href="/console/users">Users</a>: people who sign in</li>` : ''}
${kit.can(ctx, 'keys:read') ? html`<li><a href="/console/keys">Signing keys</a></li>` : ''}
${kit.can(ctx, 'events:read') ? html`<li><a href="/console/events">Security events</a></li>` : ''}
</ul>`;
    if (!kit.can(ctx, 'events:read')) {
      return kit.render(ctx, { title: 'Overview', section: '/console' }, links);
    }
    const activity = await kit.read<ActivityBody>(ctx, `/events/activity?window=${window}`);
    kit.render(ctx, { title: 'Overview', section: '/console' }, html`${activityView(activity)}${links}`);
  });

  clientPages(router, kit, signedIn, NOTICES);
  directoryPages(router, kit, signedIn, NOTICES, options.adminAudience);
  userPages(router, kit, signedIn, NOTICES);
  operationPages(router, kit, signedIn, NOTICES);

  return router;
}

type ActivityBody = {
  window: Activity['window'];
  since: string;
  until: string;
  bucket_seconds: number;
  buckets: string[];
  series: Record<keyof Activity['series'], number[]>;
  surges: {
    id: string;
    time: string;
    kind: string;
    dimension: string;
    key: string | null;
    per_minute: number | null;
    threshold: number | null;
    action: string | null;
    rate_limit_trips: number;
    lockouts: number;
  }[];
};

/** The home page's charts: sign-ins, tokens, lockouts and limits, surges marked and listed. */
function activityView(a: ActivityBody) {
  const step = a.bucket_seconds * 1000;
  const since = Date.parse(a.since);
  const surgeAt = [
    ...new Set(
      a.surges
        .map((s) => Math.floor((Date.parse(s.time) - since) / step))
        .filter((i) => i >= 0 && i < a.buckets.length),
    ),
  ];
  const tickEvery = a.window === 'hour' ? 2 : 4;
  const common = { buckets: a.buckets, surges: surgeAt, tickEvery };
  const other = a.window === 'hour' ? 'day' : 'hour';
  return html`<section aria-labelledby="activity-heading">
<h2 id="activity-heading">Activity over the last ${a.window} <span class="muted">(UTC, ${a.window === 'hour' ? '5-minute' : 'hourly'} intervals)</span></h2>
<p><a href="/console?window=${other}">Show the last ${other}</a></p>
<div class="charts">
${barChart({
  id: 'chart-signins',
  title: 'Sign-ins',
  series: [
    { label: 'succeeded', tone: 'tone-ok', values: a.series.signins_succeeded },
    { label: 'failed', tone: 'tone-bad', values: a.series.signins_failed },
  ],
  ...common,
})}
${barChart({ id: 'chart-tokens', title: 'Tokens issued', series: [{ label: 'tokens', tone: 'tone-info', values: a.series.tokens_issued }], ...common })}
${barChart({
  id: 'chart-defence',
  title: 'Lockouts and rate-limit trips',
  series: [
    { label: 'lockouts', tone: 'tone-warn', values: a.series.lockouts },
    { label: 'rate-limit trips', tone: 'tone-bad', values: a.series.rate_limit_trips },
  ],
  ...common,
})}
</div>
<h2 id="surges">Surges detected</h2>
${
  a.surges.length === 0
    ? html`<p>No surge in the last ${a.window}.</p>`
    : html`<div class="table-wrap"><table id="surges-table">
<caption class="visually-hidden">Surges detected, newest first</caption>
<thead><tr><th scope="col">When</th><th scope="col">What surged</th><th scope="col">Rate</th><th scope="col">What was done</th></tr></thead>
<tbody>${a.surges.map(
        (s) => html`<tr>
<td>${when(s.time)}</td>
<td>${s.kind === 'failures' ? 'Failures' : 'Token requests'} from one ${s.dimension}: <code>${s.key ?? 'unknown'}</code></td>
<td>${s.per_minute ?? '?'} per minute (threshold ${s.threshold ?? '?'})</td>
<td>${s.rate_limit_trips} rate-limit trip(s), ${s.lockouts} lockout(s) for it${s.action ? html`; applies: ${s.action}` : ''}.
<a href="/console/events?type=ratelimit.tripped&amp;since=${s.time.slice(0, 16)}">Rate-limit events since then</a></td>
</tr>`,
      )}</tbody></table></div>`
}
</section>`;
}
