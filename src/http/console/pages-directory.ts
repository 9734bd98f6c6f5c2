import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { formOf } from '../middleware/csrf.ts';
import { csrfField, type Html, html, problem, when } from './html.ts';
import { type ApiProblem, actionLink, type ConsoleKit, confirmPage, lines, words } from './kit.ts';

interface ApiBody {
  id: string;
  identifier: string;
  name: string;
  scopes: string[];
  accessTokenTtl: number;
  rolesClaim: boolean;
  created_at: string;
}
interface RoleBody {
  id: string;
  name: string;
  description: string | null;
  permissions: { resource: string; scope: string }[];
  created_at: string;
}

const enc = encodeURIComponent;

/** APIs (resource servers) and their scopes, and roles with their permissions. */
export function directoryPages(
  router: Router,
  kit: ConsoleKit,
  signedIn: Middleware,
  notices: Record<string, string>,
  adminAudience: string,
) {
  const notice = (ctx: Context) => (typeof ctx.query.notice === 'string' ? notices[ctx.query.notice] : undefined);

  // ---- APIs ----
  const apiForm = (ctx: Context, action: string, a: Partial<ApiBody>, creating: boolean, error?: ApiProblem): Html =>
    html`${problem(error)}<form method="post" action="${action}" class="stack">${csrfField(kit.csrf(ctx))}
${
  creating
    ? html`<label for="identifier">Identifier <span class="hint">(the audience of its tokens, e.g. https://api.example.com)</span></label>
<input id="identifier" name="identifier" required value="${a.identifier ?? ''}">`
    : ''
}
<label for="name">Name</label><input id="name" name="name" required maxlength="200" value="${a.name ?? ''}">
<label for="scopes">Scopes <span class="hint">(separated by spaces)</span></label><input id="scopes" name="scopes" value="${(a.scopes ?? []).join(' ')}">
<label for="accessTokenTtl">Access token lifetime (seconds, 60 to 86400)</label>
<input id="accessTokenTtl" name="accessTokenTtl" inputmode="numeric" value="${a.accessTokenTtl ?? 300}">
<label class="check"><input type="checkbox" name="rolesClaim"${a.rolesClaim ? html` checked` : ''}> Put a roles claim in its tokens</label>
<button type="submit">${creating ? 'Create API' : 'Save'}</button></form>`;

  const apiBody = (form: Record<string, string>, creating: boolean) => {
    const ttl = Number(form.accessTokenTtl);
    return {
      ...(creating ? { identifier: form.identifier ?? '' } : {}),
      name: form.name ?? '',
      scopes: words(form.scopes),
      // a number the API checks (and names when wrong); text that is no number is sent as is, to be named too
      accessTokenTtl: form.accessTokenTtl && Number.isFinite(ttl) ? ttl : (form.accessTokenTtl ?? ''),
      rolesClaim: form.rolesClaim === 'on',
    };
  };

  const apisPage = async (ctx: Context, error?: ApiProblem, draft?: Partial<ApiBody>) => {
    const list = await kit.read<{ data: ApiBody[] }>(ctx, '/resources?limit=200');
    kit.render(
      ctx,
      { title: 'APIs', section: '/console/apis', notice: notice(ctx), status: error?.status },
      html`<div class="table-wrap"><table><caption class="visually-hidden">APIs</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Identifier</th><th scope="col">Scopes</th><th scope="col">Token lifetime</th></tr></thead>
<tbody>${list.data.map(
        (a) => html`<tr><td><a href="/console/apis/${enc(a.id)}">${a.name}</a></td><td><code>${a.identifier}</code></td>
<td>${a.scopes.join(' ')}</td><td>${a.accessTokenTtl} s</td></tr>`,
      )}</tbody></table></div>
${kit.can(ctx, 'resources:write') ? html`<h2>New API</h2>${apiForm(ctx, '/console/apis', draft ?? {}, true, error)}` : ''}`,
    );
  };
  router.get('/console/apis', signedIn, (ctx) => apisPage(ctx));
  router.post('/console/apis', signedIn, kit.form, async (ctx) => {
    const body = apiBody(formOf(ctx), true);
    const result = await kit.api<ApiBody>(ctx, 'POST', '/resources', body);
    if (!result.ok) return apisPage(ctx, result.problem, body as Partial<ApiBody>);
    kit.back(ctx, '/console/apis', 'created');
  });

  const apiPage = async (ctx: Context, error?: ApiProblem, draft?: Partial<ApiBody>) => {
    const result = await kit.api<ApiBody>(ctx, 'GET', `/resources/${enc(ctx.params.id ?? '')}`);
    if (!result.ok)
      return kit.render(
        ctx,
        { title: 'API', section: '/console/apis', status: result.problem.status },
        problem(result.problem),
      );
    const a = result.body;
    const builtIn = a.identifier === adminAudience;
    kit.render(
      ctx,
      { title: a.name, section: '/console/apis', notice: notice(ctx), status: error?.status },
      html`<dl class="facts"><dt>Identifier</dt><dd><code>${a.identifier}</code></dd><dt>Scopes</dt><dd>${a.scopes.join(' ') || 'none'}</dd>
<dt>Created</dt><dd>${when(a.created_at)}</dd></dl>
${
  kit.can(ctx, 'resources:write') && !builtIn
    ? html`<h2>Settings</h2>${apiForm(ctx, `/console/apis/${enc(a.id)}`, { ...a, ...draft }, false, error)}
<p class="actions">${actionLink(true, `/console/apis/${enc(a.id)}/delete`, 'Delete API')}</p>`
    : builtIn
      ? html`<p>This is the admin API itself: it is built in.</p>`
      : ''
}`,
    );
  };
  router.get('/console/apis/:id', signedIn, (ctx) => apiPage(ctx));
  router.post('/console/apis/:id', signedIn, kit.form, async (ctx) => {
    const body = apiBody(formOf(ctx), false);
    const result = await kit.api(ctx, 'PATCH', `/resources/${enc(ctx.params.id ?? '')}`, body);
    if (!result.ok) return apiPage(ctx, result.problem, body as Partial<ApiBody>);
    kit.back(ctx, `/console/apis/${enc(ctx.params.id ?? '')}`, 'saved');
  });
  router.get('/console/apis/:id/delete', signedIn, (ctx) =>
    confirmPage(kit, ctx, {
      title: 'Delete the API?',
      section: '/console/apis',
      text: 'Clients and roles lose their access to it. This cannot be undone.',
      action: `/console/apis/${enc(ctx.params.id ?? '')}/delete`,
      button: 'Delete API',
      cancel: `/console/apis/${enc(ctx.params.id ?? '')}`,
      danger: true,
    }),
  );
  router.post('/console/apis/:id/delete', signedIn, kit.form, async (ctx) => {
    const result = await kit.api(ctx, 'DELETE', `/resources/${enc(ctx.params.id ?? '')}`);
    if (!result.ok) return apiPage(ctx, result.problem);
    kit.back(ctx, '/console/apis', 'deleted');
  });

  // ---- roles ----
  const permissionsOf = (text: string | undefined) =>
    lines(text).flatMap((line) => {
      const [resource, ...scopes] = words(line);
      return resource ? scopes.map((scope) => ({ resource, scope })) : [];
    });
  const permissionText = (permissions: readonly { resource: string; scope: string }[]) => {
    const by = new Map<string, string[]>();
    for (const p of permissions) by.set(p.resource, [...(by.get(p.resource) ?? []), p.scope]);
    return [...by].map(([r, s]) => [r, ...s].join(' ')).join('\n');
  };
  const roleForm = (ctx: Context, action: string, r: Partial<RoleBody>, creating: boolean, error?: ApiProblem): Html =>
    html`${problem(error)}<form method="post" action="${action}" class="stack">${csrfField(kit.csrf(ctx))}
<label for="role-name">Name</label><input id="role-name" name="name" required maxlength="100" value="${r.name ?? ''}">
<label for="description">Description</label><input id="description" name="description" maxlength="500" value="${r.description ?? ''}">
<label for="permissions">Permissions <span class="hint">(one line per API: identifier, then scopes; the console's own access is <code>${adminAudience}</code> with scopes such as clients:read)</span></label>
<textarea id="permissions" name="permissions" rows="4">${permissionText(r.permissions ?? [])}</textarea>
<button type="submit">${creating ? 'Create role' : 'Save'}</button></form>`;
  const roleBody = (form: Record<string, string>) => ({
    name: form.name ?? '',
    description: (form.description ?? '').trim() === '' ? null : (form.description ?? ''),
    permissions: permissionsOf(form.permissions),
  });

  const rolesPage = async (ctx: Context, error?: ApiProblem, draft?: Partial<RoleBody>) => {
    const list = await kit.read<{ data: RoleBody[] }>(ctx, '/roles');
    kit.render(
      ctx,
      { title: 'Roles', section: '/console/roles', notice: notice(ctx), status: error?.status },
      html`<div class="table-wrap"><table><caption class="visually-hidden">Roles</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Description</th><th scope="col">Permissions</th></tr></thead>
<tbody>${list.data.map(
        (r) => html`<tr><td><a href="/console/roles/${enc(r.id)}">${r.name}</a></td><td>${r.description ?? ''}</td>
<td>${r.permissions.map((p) => html`<div><code>${p.resource}</code> ${p.scope}</div>`)}</td></tr>`,
      )}</tbody></table></div>
${kit.can(ctx, 'roles:write') ? html`<h2>New role</h2>${roleForm(ctx, '/console/roles', draft ?? {}, true, error)}` : ''}`,
    );
  };
  router.get('/console/roles', signedIn, (ctx) => rolesPage(ctx));
  router.post('/console/roles', signedIn, kit.form, async (ctx) => {
    const body = roleBody(formOf(ctx));
    const result = await kit.api(ctx, 'POST', '/roles', body);
    if (!result.ok) return rolesPage(ctx, result.problem, body);
    kit.back(ctx, '/console/roles', 'created');
  });
  const rolePage = async (ctx: Context, error?: ApiProblem, draft?: Partial<RoleBody>) => {
    const result = await kit.api<RoleBody>(ctx, 'GET', `/roles/${enc(ctx.params.id ?? '')}`);
    if (!result.ok)
      return kit.render(
        ctx,
        { title: 'Role', section: '/console/roles', status: result.problem.status },
        problem(result.problem),
      );
    const r = result.body;
    kit.render(
      ctx,
      { title: `Role ${r.name}`, section: '/console/roles', notice: notice(ctx), status: error?.status },
      kit.can(ctx, 'roles:write')
        ? html`${roleForm(ctx, `/console/roles/${enc(r.id)}`, { ...r, ...draft }, false, error)}
<p class="actions">${actionLink(true, `/console/roles/${enc(r.id)}/delete`, 'Delete role')}</p>`
        : html`<p>${r.description ?? ''}</p><ul>${r.permissions.map((p) => html`<li><code>${p.resource}</code> ${p.scope}</li>`)}</ul>`,
    );
  };
  router.get('/console/roles/:id', signedIn, (ctx) => rolePage(ctx));
  router.post('/console/roles/:id', signedIn, kit.form, async (ctx) => {
    const body = roleBody(formOf(ctx));
    const result = await kit.api(ctx, 'PATCH', `/roles/${enc(ctx.params.id ?? '')}`, body);
    if (!result.ok) return rolePage(ctx, result.problem, body);
    kit.back(ctx, `/console/roles/${enc(ctx.params.id ?? '')}`, 'saved');
  });
  router.get('/console/roles/:id/delete', signedIn, (ctx) =>
    confirmPage(kit, ctx, {
      title: 'Delete the role?',
      section: '/console/roles',
      text: 'Everyone holding it loses what it grants. This cannot be undone.',
      action: `/console/roles/${enc(ctx.params.id ?? '')}/delete`,
      button: 'Delete role',
      cancel: `/console/roles/${enc(ctx.params.id ?? '')}`,
      danger: true,
    }),
  );
  router.post('/console/roles/:id/delete', signedIn, kit.form, async (ctx) => {
    const result = await kit.api(ctx, 'DELETE', `/roles/${enc(ctx.params.id ?? '')}`);
    if (!result.ok) return rolePage(ctx, result.problem);
    kit.back(ctx, '/console/roles', 'deleted');
  });
}
