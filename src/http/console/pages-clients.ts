import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { formOf } from '../middleware/csrf.ts';
import { csrfField, type Html, html, problem, when } from './html.ts';
import { type ApiProblem, actionLink, type ConsoleKit, lines, words } from './kit.ts';

interface ClientBody {
  client_id: string;
  client_name?: string;
  grant_types?: string[];
  redirect_uris?: string[];
  post_logout_redirect_uris?: string[];
  token_endpoint_auth_method?: string;
  scope?: string;
  allowedResources: Record<string, string[]>;
  first_party: boolean;
  roles: string[];
  created_at: string;
  client_secret?: string;
}

const GRANTS = [
  ['authorization_code', 'Authorization code (people sign in)'],
  ['refresh_token', 'Refresh tokens'],
  ['client_credentials', 'Client credentials (a service)'],
] as const;
const AUTH_METHODS = [
  ['client_secret_basic', 'Client secret (HTTP Basic)'],
  ['client_secret_post', 'Client secret (form body)'],
  ['none', 'None: a public client (single-page or native app, PKCE)'],
] as const;

const path = (id: string) => `/console/clients/${encodeURIComponent(id)}`;
const apiPath = (id: string) => `/clients/${encodeURIComponent(id)}`;

/** The form's fields as admin API client metadata. */
function metadataOf(form: Record<string, string>, creating: boolean): Record<string, unknown> {
  const allowedResources: Record<string, string[]> = {};
  for (const line of lines(form.allowedResources)) {
    const [identifier, ...scopes] = words(line);
    if (identifier) allowedResources[identifier] = scopes;
  }
  const grant_types = GRANTS.map(([g]) => g).filter((g) => form[`grant_${g}`] === 'on');
  const body: Record<string, unknown> = {
    client_name: form.client_name ?? '',
    grant_types,
    // an authorization code client needs the code response type; a service none
    response_types: grant_types.includes('authorization_code') ? ['code'] : [],
    redirect_uris: lines(form.redirect_uris),
    post_logout_redirect_uris: lines(form.post_logout_redirect_uris),
    token_endpoint_auth_method: form.token_endpoint_auth_method ?? 'client_secret_basic',
    allowedResources,
    first_party: form.first_party === 'on',
  };
  if ((form.scope ?? '').trim() !== '') body.scope = words(form.scope).join(' ');
  // roles are sent only when changed or given: assigning roles is the roles:write scope's business
  const roles = words(form.roles);
  if (creating ? roles.length > 0 : form.roles !== form.roles_before) body.roles = roles;
  return body;
}

function clientForm(ctx: Context, kit: ConsoleKit, action: string, c: Partial<ClientBody>, error?: ApiProblem): Html {
  const grants = new Set(c.grant_types ?? ['authorization_code']);
  const method = c.token_endpoint_auth_method ?? 'client_secret_basic';
  const roles = (c.roles ?? []).join(' ');
  const resources = Object.entries(c.allowedResources ?? {})
    .map(([id, scopes]) => [id, ...scopes].join(' '))
    .join('\n');
  return html`${problem(error)}<form method="post" action="${action}" class="stack">
${csrfField(kit.csrf(ctx))}
<label for="client_name">Name</label>
<input id="client_name" name="client_name" required maxlength="200" value="${c.client_name ?? ''}">
<fieldset><legend>Grant types</legend>
${GRANTS.map(
  ([g, label]) =>
    html`<label class="check"><input type="checkbox" name="grant_${g}"${grants.has(g) ? html` checked` : ''}> ${label}</label>`,
)}
</fieldset>
<label for="token_endpoint_auth_method">Client authentication</label>
<select id="token_endpoint_auth_method" name="token_endpoint_auth_method">
${AUTH_METHODS.map(([m, label]) => html`<option value="${m}"${m === method ? html` selected` : ''}>${label}</option>`)}
${AUTH_METHODS.some(([m]) => m === method) ? '' : html`<option value="${method}" selected>${method}</option>`}
</select>
<label for="redirect_uris">Redirect URIs <span class="hint">(one per line, exact match)</span></label>
<textarea id="redirect_uris" name="redirect_uris" rows="3">${(c.redirect_uris ?? []).join('\n')}</textarea>
<label for="post_logout_redirect_uris">Post-logout redirect URIs <span class="hint">(one per line)</span></label>
<textarea id="post_logout_redirect_uris" name="post_logout_redirect_uris" rows="2">${(c.post_logout_redirect_uris ?? []).join('\n')}</textarea>
<label for="scope">OpenID scopes it may ask for <span class="hint">(e.g. openid profile email offline_access)</span></label>
<input id="scope" name="scope" value="${c.scope ?? ''}">
<label for="allowedResources">APIs it may call <span class="hint">(one per line: identifier, then scopes)</span></label>
<textarea id="allowedResources" name="allowedResources" rows="3">${resources}</textarea>
<label for="roles">Roles <span class="hint">(names, separated by spaces${kit.can(ctx, 'roles:write') ? '' : '; changing them needs roles:write'})</span></label>
<input id="roles" name="roles" value="${roles}">
<input type="hidden" name="roles_before" value="${roles}">
<label class="check"><input type="checkbox" name="first_party"${c.first_party ? html` checked` : ''}> First-party (no consent page)</label>
<button type="submit">Save</button>
</form>`;
}

/** A page that shows a client secret once: never cached, never in a URL. */
function secretShown(kit: ConsoleKit, ctx: Context, title: string, client: ClientBody) {
  kit.render(
    ctx,
    { title, section: '/console/clients' },
    html`<div class="secret" role="status"><p><strong>Copy the client secret now: it is shown this once.</strong></p>
<p><label for="client_secret">Client secret of <code>${client.client_id}</code></label>
<input id="client_secret" readonly value="${client.client_secret ?? ''}" data-secret></p></div>
<p><a href="${path(client.client_id)}">Go to the client</a></p>`,
  );
}

export function clientPages(router: Router, kit: ConsoleKit, signedIn: Middleware, notices: Record<string, string>) {
  const notice = (ctx: Context) => (typeof ctx.query.notice === 'string' ? notices[ctx.query.notice] : undefined);

  router.get('/console/clients', signedIn, async (ctx) => {
    const after = typeof ctx.query.after === 'string' ? ctx.query.after : undefined;
    const page = await kit.read<{ data: ClientBody[]; next?: string }>(
      ctx,
      `/clients?limit=50${after ? `&after=${encodeURIComponent(after)}` : ''}`,
    );
    kit.render(
      ctx,
      { title: 'Clients', section: '/console/clients', notice: notice(ctx) },
      html`<p>${actionLink(kit.can(ctx, 'clients:write'), '/console/clients/new', 'New client')}</p>
<div class="table-wrap"><table><caption class="visually-hidden">Clients</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Client ID</th><th scope="col">Grant types</th><th scope="col">Created</th></tr></thead>
<tbody>${page.data.map(
        (
          c,
        ) => html`<tr><td><a href="${path(c.client_id)}">${c.client_name ?? c.client_id}</a></td><td><code>${c.client_id}</code></td>
<td>${(c.grant_types ?? []).join(', ')}</td><td>${when(c.created_at)}</td></tr>`,
      )}</tbody></table></div>
${page.next ? html`<p><a href="/console/clients?after=${page.next}">Next page</a></p>` : ''}`,
    );
  });

  router.get('/console/clients/new', signedIn, (ctx) =>
    kit.render(
      ctx,
      { title: 'New client', section: '/console/clients' },
      clientForm(ctx, kit, '/console/clients/new', {}),
    ),
  );

  router.post('/console/clients/new', signedIn, kit.form, async (ctx) => {
    const form = formOf(ctx);
    const result = await kit.api<ClientBody>(ctx, 'POST', '/clients', metadataOf(form, true));
    if (!result.ok) {
      const draft = { ...metadataOf(form, true), roles: words(form.roles) } as Partial<ClientBody>;
      return kit.render(
        ctx,
        { title: 'New client', section: '/console/clients', status: result.problem.status },
        clientForm(ctx, kit, '/console/clients/new', draft, result.problem),
      );
    }
    if (result.body.client_secret) return secretShown(kit, ctx, 'Client created', result.body);
    kit.back(ctx, path(result.body.client_id), 'created');
  });

  const show = async (ctx: Context, error?: ApiProblem, draft?: Partial<ClientBody>) => {
    const id = ctx.params.id ?? '';
    const client = await kit.api<ClientBody>(ctx, 'GET', apiPath(id));
    if (!client.ok)
      return kit.render(
        ctx,
        { title: 'Client', section: '/console/clients', status: client.problem.status },
        problem(client.problem),
      );
    const c = client.body;
    const write = kit.can(ctx, 'clients:write');
    kit.render(
      ctx,
      { title: c.client_name ?? c.client_id, section: '/console/clients', notice: notice(ctx), status: error?.status },
      html`<dl class="facts"><dt>Client ID</dt><dd><code>${c.client_id}</code></dd><dt>Created</dt><dd>${when(c.created_at)}</dd></dl>
${
  write
    ? html`<h2>Settings</h2>${clientForm(ctx, kit, path(c.client_id), { ...c, ...draft }, error)}
<h2>Secret and removal</h2>
<p class="actions">${c.token_endpoint_auth_method === 'none' ? '' : actionLink(true, `${path(c.client_id)}/secret`, 'Rotate secret')}
${actionLink(true, `${path(c.client_id)}/delete`, 'Delete client')}</p>`
    : html`<h2>Settings</h2><dl class="facts">
<dt>Grant types</dt><dd>${(c.grant_types ?? []).join(', ') || 'none'}</dd>
<dt>Redirect URIs</dt><dd>${(c.redirect_uris ?? []).join(' ') || 'none'}</dd>
<dt>Client authentication</dt><dd>${c.token_endpoint_auth_method ?? 'client_secret_basic'}</dd>
<dt>APIs</dt><dd>${
        Object.entries(c.allowedResources)
          .map(([r, s]) => `${r}: ${s.join(' ')}`)
          .join('; ') || 'none'
      }</dd>
<dt>Roles</dt><dd>${c.roles.join(', ') || 'none'}</dd></dl>`
}`,
    );
  };
  router.get('/console/clients/:id', signedIn, (ctx) => show(ctx));

  router.post('/console/clients/:id', signedIn, kit.form, async (ctx) => {
    const form = formOf(ctx);
    const body = metadataOf(form, false);
    const result = await kit.api(ctx, 'PATCH', apiPath(ctx.params.id ?? ''), body);
    if (!result.ok) return show(ctx, result.problem, { ...(body as Partial<ClientBody>), roles: words(form.roles) });
    kit.back(ctx, path(ctx.params.id ?? ''), 'saved');
  });

  router.get('/console/clients/:id/secret', signedIn, (ctx) =>
    kit.render(
      ctx,
      { title: 'Rotate the client secret', section: '/console/clients' },
      html`<p>A new secret replaces the current one at once: the client must be given the new secret.</p>
<form method="post" action="${path(ctx.params.id ?? '')}/secret">${csrfField(kit.csrf(ctx))}
<button type="submit">Rotate the secret of ${ctx.params.id}</button> <a href="${path(ctx.params.id ?? '')}">Cancel</a></form>`,
    ),
  );
  router.post('/console/clients/:id/secret', signedIn, kit.form, async (ctx) => {
    const result = await kit.api<ClientBody>(ctx, 'POST', `${apiPath(ctx.params.id ?? '')}/secret`);
    if (!result.ok) return show(ctx, result.problem);
    secretShown(kit, ctx, 'New client secret', result.body);
  });

  router.get('/console/clients/:id/delete', signedIn, (ctx) =>
    kit.render(
      ctx,
      { title: 'Delete the client?', section: '/console/clients' },
      html`<p>Deleting <code>${ctx.params.id}</code> ends its tokens and cannot be undone.</p>
<form method="post" action="${path(ctx.params.id ?? '')}/delete">${csrfField(kit.csrf(ctx))}
<button type="submit" class="danger">Delete ${ctx.params.id}</button> <a href="${path(ctx.params.id ?? '')}">Cancel</a></form>`,
    ),
  );
  router.post('/console/clients/:id/delete', signedIn, kit.form, async (ctx) => {
    const result = await kit.api(ctx, 'DELETE', apiPath(ctx.params.id ?? ''));
    if (!result.ok) return show(ctx, result.problem);
    kit.back(ctx, '/console/clients', 'deleted');
  });
}
