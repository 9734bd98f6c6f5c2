import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { formOf } from '../middleware/csrf.ts';
import { csrfField, type Html, html, problem, when } from './html.ts';
import { type ApiProblem, actionLink, type ConsoleKit, confirmPage, words } from './kit.ts';

interface UserBody {
  id: string;
  username: string;
  email: string | null;
  name: string | null;
  status: 'active' | 'disabled';
  roles: string[];
  created_at: string;
  last_sign_in_at: string | null;
}
interface SessionBody {
  id: string;
  createdAt: string;
  lastSeenAt: string | null;
  ip: string | null;
  userAgent: string | null;
}

const enc = encodeURIComponent;
const userPath = (id: string) => `/console/users/${enc(id)}`;

/** Actions on a user, each a POST to the admin API; some come with features the API may not have. */
const ACTIONS = {
  unlock: {
    method: 'POST',
    api: '/unlock',
    route: '/admin/users/:id/unlock',
    notice: 'unlocked',
    label: 'Lift sign-in lockout',
  },
  'reset-mfa': {
    method: 'DELETE',
    api: '/mfa',
    route: '/admin/users/:id/mfa',
    notice: 'mfa-reset',
    label: 'Reset second factors',
  },
  'password-reset': {
    method: 'POST',
    api: '/password-reset',
    route: '/admin/users/:id/password-reset',
    notice: 'reset-sent',
    label: 'Send a password reset link',
  },
  'end-sessions': {
    method: 'DELETE',
    api: '/sessions',
    route: '/admin/users/:id/sessions',
    notice: 'sessions-ended',
    label: 'Sign out everywhere',
  },
} as const;
type ActionName = keyof typeof ACTIONS;

export function userPages(router: Router, kit: ConsoleKit, signedIn: Middleware, notices: Record<string, string>) {
  const notice = (ctx: Context) => (typeof ctx.query.notice === 'string' ? notices[ctx.query.notice] : undefined);
  const available = (name: ActionName) => kit.hasRoute(ACTIONS[name].method, ACTIONS[name].route);

  const newUserForm = (ctx: Context, draft: Record<string, string>, error?: ApiProblem): Html =>
    html`${problem(error)}<form method="post" action="/console/users/new" class="stack">${csrfField(kit.csrf(ctx))}
<label for="username">Username</label><input id="username" name="username" required autocomplete="off" value="${draft.username ?? ''}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="off" value="${draft.email ?? ''}">
<label for="name">Full name</label><input id="name" name="name" autocomplete="off" value="${draft.name ?? ''}">
<label for="password">Initial password <span class="hint">(optional)</span></label><input id="password" name="password" type="password" autocomplete="new-password">
<label for="roles">Roles <span class="hint">(names, separated by spaces${kit.can(ctx, 'roles:write') ? '' : '; giving roles needs roles:write'})</span></label>
<input id="roles" name="roles" value="${draft.roles ?? ''}">
<button type="submit">Create user</button></form>`;

  router.get('/console/users', signedIn, async (ctx) => {
    const q = typeof ctx.query.username === 'string' ? ctx.query.username.slice(0, 200) : '';
    const after = typeof ctx.query.after === 'string' ? ctx.query.after : '';
    const params = new URLSearchParams({ limit: '50', ...(q ? { username: q } : {}), ...(after ? { after } : {}) });
    const result = await kit.api<{ data: UserBody[]; next?: string }>(ctx, 'GET', `/users?${params}`);
    const list = result.ok ? result.body : { data: [] };
    kit.render(
      ctx,
      {
        title: 'Users',
        section: '/console/users',
        notice: notice(ctx),
        status: result.ok ? 200 : result.problem.status,
      },
      html`${result.ok ? '' : problem(result.problem)}
<form method="get" action="/console/users" class="inline" role="search"><label for="q">Username</label>
<input id="q" name="username" value="${q}"><button type="submit">Find</button></form>
<p>${actionLink(kit.can(ctx, 'users:write'), '/console/users/new', 'New user')}</p>
<div class="table-wrap"><table><caption class="visually-hidden">Users</caption>
<thead><tr><th scope="col">Username</th><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Roles</th><th scope="col">Last sign-in</th></tr></thead>
<tbody>${list.data.map(
        (u) => html`<tr><td><a href="${userPath(u.id)}">${u.username}</a></td><td>${u.name ?? ''}</td>
<td>${u.status}</td><td>${u.roles.join(', ')}</td><td>${when(u.last_sign_in_at)}</td></tr>`,
      )}</tbody></table></div>
${list.next ? html`<p><a href="/console/users?${new URLSearchParams({ ...(q ? { username: q } : {}), after: list.next }).toString()}">Next page</a></p>` : ''}`,
    );
  });

  router.get('/console/users/new', signedIn, (ctx) =>
    kit.render(ctx, { title: 'New user', section: '/console/users' }, newUserForm(ctx, {})),
  );
  router.post('/console/users/new', signedIn, kit.form, async (ctx) => {
    const form = formOf(ctx);
    const roles = words(form.roles);
    const body = {
      username: form.username ?? '',
      ...(form.email ? { email: form.email } : {}),
      ...(form.name ? { name: form.name } : {}),
      ...(form.password ? { password: form.password } : {}),
      ...(roles.length > 0 ? { roles } : {}),
    };
    const result = await kit.api<UserBody>(ctx, 'POST', '/users', body);
    if (!result.ok) {
      // the password is never sent back to the browser
      const { password: _password, csrf: _csrf, ...draft } = form;
      return kit.render(
        ctx,
        { title: 'New user', section: '/console/users', status: result.problem.status },
        newUserForm(ctx, draft, result.problem),
      );
    }
    kit.back(ctx, userPath(result.body.id), 'created');
  });

  const show = async (ctx: Context, error?: ApiProblem) => {
    const id = ctx.params.id ?? '';
    const result = await kit.api<UserBody>(ctx, 'GET', `/users/${enc(id)}`);
    if (!result.ok)
      return kit.render(
        ctx,
        { title: 'User', section: '/console/users', status: result.problem.status },
        problem(result.problem),
      );
    const u = result.body;
    const write = kit.can(ctx, 'users:write');
    let sessions: Html | string = '';
    if (kit.hasRoute('GET', '/admin/users/:id/sessions')) {
      const list = await kit.api<SessionBody[] | { data: SessionBody[] }>(ctx, 'GET', `/users/${enc(id)}/sessions`);
      if (list.ok) {
        const items = Array.isArray(list.body) ? list.body : list.body.data;
        sessions = html`<h2>Sessions</h2>${
          items.length === 0
            ? html`<p>No session.</p>`
            : html`<ul>${items.map((s) => html`<li>${when(s.createdAt)} from ${s.ip ?? 'unknown address'}, ${s.userAgent ?? ''}</li>`)}</ul>`
        }`;
      }
    }
    const actions = (Object.keys(ACTIONS) as ActionName[]).filter(available);
    kit.render(
      ctx,
      { title: u.username, section: '/console/users', notice: notice(ctx), status: error?.status },
      html`${problem(error)}<dl class="facts"><dt>ID</dt><dd><code>${u.id}</code></dd><dt>Email</dt><dd>${u.email ?? 'none'}</dd>
<dt>Name</dt><dd>${u.name ?? ''}</dd><dt>Status</dt><dd>${u.status}</dd><dt>Roles</dt><dd>${u.roles.join(', ') || 'none'}</dd>
<dt>Created</dt><dd>${when(u.created_at)}</dd><dt>Last sign-in</dt><dd>${when(u.last_sign_in_at)}</dd></dl>
${
  write
    ? html`<h2>Actions</h2><div class="actions">
<form method="post" action="${userPath(u.id)}/status">${csrfField(kit.csrf(ctx))}
<input type="hidden" name="status" value="${u.status === 'active' ? 'disabled' : 'active'}">
<button type="submit"${u.status === 'active' ? html` class="danger"` : ''}>${u.status === 'active' ? 'Disable user' : 'Enable user'}</button></form>
${actions.map((name) => html`<form method="post" action="${userPath(u.id)}/${name}">${csrfField(kit.csrf(ctx))}<button type="submit">${ACTIONS[name].label}</button></form>`)}
</div>
${
  kit.can(ctx, 'roles:write')
    ? html`<h2>Roles</h2><form method="post" action="${userPath(u.id)}/roles" class="inline">${csrfField(kit.csrf(ctx))}
<label for="roles">Roles (names, separated by spaces)</label><input id="roles" name="roles" value="${u.roles.join(' ')}"><button type="submit">Save roles</button></form>`
    : ''
}
<p class="actions">${actionLink(true, `${userPath(u.id)}/delete`, 'Delete user')}</p>`
    : ''
}
${sessions}`,
    );
  };
  router.get('/console/users/:id', signedIn, (ctx) => show(ctx));

  const patch = (field: 'status' | 'roles') =>
    (async (ctx) => {
      const form = formOf(ctx);
      const body = field === 'status' ? { status: form.status } : { roles: words(form.roles) };
      const result = await kit.api(ctx, 'PATCH', `/users/${enc(ctx.params.id ?? '')}`, body);
      if (!result.ok) return show(ctx, result.problem);
      kit.back(
        ctx,
        userPath(ctx.params.id ?? ''),
        field === 'status' ? (form.status === 'disabled' ? 'disabled' : 'enabled') : 'saved',
      );
    }) satisfies Middleware;
  router.post('/console/users/:id/status', signedIn, kit.form, patch('status'));
  router.post('/console/users/:id/roles', signedIn, kit.form, patch('roles'));
  // a GET of an action's path (after a new sign-in, say) shows the user
  router.get('/console/users/:id/:action', signedIn, async (ctx, next) => {
    if (ctx.params.action === 'delete') return next();
    ctx.status = 303;
    ctx.redirect(userPath(ctx.params.id ?? ''));
  });

  for (const name of Object.keys(ACTIONS) as ActionName[]) {
    router.post(`/console/users/:id/${name}`, signedIn, kit.form, async (ctx) => {
      if (!available(name))
        return show(ctx, { status: 404, message: 'The admin API of this server does not have this action.' });
      const action = ACTIONS[name];
      const result = await kit.api(ctx, action.method, `/users/${enc(ctx.params.id ?? '')}${action.api}`);
      if (!result.ok) return show(ctx, result.problem);
      kit.back(ctx, userPath(ctx.params.id ?? ''), action.notice);
    });
  }

  router.get('/console/users/:id/delete', signedIn, (ctx) =>
    confirmPage(kit, ctx, {
      title: 'Delete the user?',
      section: '/console/users',
      text: 'Their account, sessions and tokens end. This cannot be undone.',
      action: `${userPath(ctx.params.id ?? '')}/delete`,
      button: 'Delete user',
      cancel: userPath(ctx.params.id ?? ''),
      danger: true,
    }),
  );
  router.post('/console/users/:id/delete', signedIn, kit.form, async (ctx) => {
    const result = await kit.api(ctx, 'DELETE', `/users/${enc(ctx.params.id ?? '')}`);
    if (!result.ok) return show(ctx, result.problem);
    kit.back(ctx, '/console/users', 'deleted');
  });
}
