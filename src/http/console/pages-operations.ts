import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { html, problem, when } from './html.ts';
import { type ConsoleKit, confirmPage } from './kit.ts';

interface KeyBody {
  kid: string;
  alg: string;
  current: boolean;
  created_at: string;
  expires_at: string | null;
}
interface EventBody {
  id: string;
  type: string;
  time: string;
  outcome: string;
  actor: string | null;
  subject: string | null;
  client_id: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

/** `2026-01-02T03:04` (a datetime-local input, read as UTC) or a full RFC 3339 time, as the API takes it. */
const timeParam = (value: unknown): string | undefined => {
  if (typeof value !== 'string' || value === '') return undefined;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value)) return `${value}:00Z`;
  return value.slice(0, 64);
};

const FILTERS = ['type', 'subject', 'client_id', 'since', 'until'] as const;

/** Signing keys, and the security event log with its filters and cursor. */
export function operationPages(router: Router, kit: ConsoleKit, signedIn: Middleware, notices: Record<string, string>) {
  const notice = (ctx: Context) => (typeof ctx.query.notice === 'string' ? notices[ctx.query.notice] : undefined);

  router.get('/console/keys', signedIn, async (ctx) => {
    const keys = await kit.read<{ data: KeyBody[] }>(ctx, '/keys');
    kit.render(
      ctx,
      { title: 'Signing keys', section: '/console/keys', notice: notice(ctx) },
      html`<div class="table-wrap"><table><caption class="visually-hidden">Signing keys</caption>
<thead><tr><th scope="col">Key ID</th><th scope="col">Algorithm</th><th scope="col">Signs now</th><th scope="col">Created</th><th scope="col">Published until</th></tr></thead>
<tbody>${keys.data.map(
        (
          k,
        ) => html`<tr><td><code>${k.kid}</code></td><td>${k.alg}</td><td>${k.current ? 'yes' : 'no'}</td><td>${when(k.created_at)}</td>
<td>${k.expires_at ? when(k.expires_at) : html`<span class="muted">no end</span>`}</td></tr>`,
      )}</tbody></table></div>
${kit.can(ctx, 'keys:write') ? html`<p><a class="button" href="/console/keys/rotate">Rotate signing keys</a></p>` : ''}`,
    );
  });
  router.get('/console/keys/rotate', signedIn, (ctx) =>
    confirmPage(kit, ctx, {
      title: 'Rotate the signing keys?',
      section: '/console/keys',
      text: 'A new key is published now and signs once APIs have had time to fetch it; the old one stays published until the tokens it signed expire.',
      action: '/console/keys/rotate',
      button: 'Rotate keys',
      cancel: '/console/keys',
    }),
  );
  router.post('/console/keys/rotate', signedIn, kit.form, async (ctx) => {
    const result = await kit.api(ctx, 'POST', '/keys/rotate');
    if (!result.ok)
      return kit.render(
        ctx,
        { title: 'Signing keys', section: '/console/keys', status: result.problem.status },
        problem(result.problem),
      );
    kit.back(ctx, '/console/keys', 'rotated');
  });

  router.get('/console/events', signedIn, async (ctx) => {
    const shown: Record<string, string> = {};
    const params = new URLSearchParams({ limit: '50' });
    for (const name of FILTERS) {
      const value = ctx.query[name];
      if (typeof value !== 'string' || value === '') continue;
      shown[name] = value.slice(0, 256);
      const sent = name === 'since' || name === 'until' ? timeParam(value) : value.slice(0, 256);
      if (sent) params.set(name, sent);
    }
    if (typeof ctx.query.after === 'string' && ctx.query.after !== '')
      params.set('after', ctx.query.after.slice(0, 128));
    const result = await kit.api<{ data: EventBody[]; next?: string }>(ctx, 'GET', `/events?${params}`);
    const page = result.ok ? result.body : { data: [] };
    const nextLink = page.next ? `/console/events?${new URLSearchParams({ ...shown, after: page.next })}` : undefined;
    kit.render(
      ctx,
      { title: 'Security events', section: '/console/events', status: result.ok ? 200 : result.problem.status },
      html`<form method="get" action="/console/events" class="filters" role="search" aria-label="Filter events">
<div><label for="type">Type <span class="hint">(signin.failed, client.*)</span></label><input id="type" name="type" value="${shown.type ?? ''}"></div>
<div><label for="subject">Subject</label><input id="subject" name="subject" value="${shown.subject ?? ''}"></div>
<div><label for="client_id">Client</label><input id="client_id" name="client_id" value="${shown.client_id ?? ''}"></div>
<div><label for="since">From (UTC)</label><input id="since" name="since" type="datetime-local" value="${shown.since ?? ''}"></div>
<div><label for="until">Until (UTC)</label><input id="until" name="until" type="datetime-local" value="${shown.until ?? ''}"></div>
<div><button type="submit">Filter</button> <a href="/console/events">Clear</a></div>
</form>
${result.ok ? '' : problem(result.problem)}
<div class="table-wrap"><table><caption class="visually-hidden">Security events, newest first</caption>
<thead><tr><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Outcome</th><th scope="col">Subject</th><th scope="col">Client</th><th scope="col">Actor</th><th scope="col">Address</th><th scope="col">Details</th></tr></thead>
<tbody>${page.data.map(
        (
          e,
        ) => html`<tr><td>${when(e.time)}</td><td><code>${e.type}</code></td><td>${e.outcome}</td><td>${e.subject ?? ''}</td>
<td>${e.client_id ?? ''}</td><td>${e.actor ?? ''}</td><td>${e.ip ?? ''}</td><td><code class="details">${Object.keys(e.details).length > 0 ? JSON.stringify(e.details) : ''}</code></td></tr>`,
      )}</tbody></table></div>
${page.data.length === 0 && result.ok ? html`<p>No event matches.</p>` : ''}
${nextLink ? html`<p><a href="${nextLink}" rel="next">Older events</a></p>` : ''}`,
    );
  });
}
