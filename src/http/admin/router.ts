import Router from '@koa/router';
import { AppError } from '../../errors.ts';
import type { ReplayCache } from '../../resource-server/dpop.ts';
import type { AccessTokenService } from '../../services/access-tokens.ts';
import type { AccountService } from '../../services/accounts.ts';
import { createAdminDelegation } from '../../services/admin-delegation.ts';
import type { ClientSecretService } from '../../services/client-secrets.ts';
import type { ClientService } from '../../services/clients.ts';
import type { FederationService } from '../../services/federation.ts';
import type { PasskeyService } from '../../services/passkeys.ts';
import type { PasswordResetService } from '../../services/password-reset.ts';
import type { ResourceService } from '../../services/resources.ts';
import type { RoleService } from '../../services/roles.ts';
import { InitialAccessTokenView, KeysRotated, KeyView, listOf } from '../../services/schemas/responses.ts';
import type { SecurityEventService } from '../../services/security-events.ts';
import type { SessionService } from '../../services/sessions.ts';
import { adminAuth, requireScope } from '../middleware/admin-auth.ts';
import { etagHeader } from '../middleware/etag.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { auditAdminChanges } from './audit.ts';
import { clientSecretRoutes } from './client-secrets.ts';
import { clientRoutes } from './clients.ts';
import { renderApiReference } from './docs-page.ts';
import { eventRoutes } from './events.ts';
import { federatedIssuerRoutes } from './federated-issuers.ts';
import { type LockoutDeps, lockoutRoutes } from './lockouts.ts';
import { buildOpenApi, responds } from './openapi.ts';
import { passkeyRoutes } from './passkeys.ts';
import { passwordResetRoutes } from './password-reset.ts';
import { resourceRoutes } from './resources.ts';
import { roleRoutes } from './roles.ts';
import { NewInitialAccessToken } from './schemas.ts';
import { secondFactorRoutes } from './second-factors.ts';
import { sessionRoutes } from './sessions.ts';
import { userRoutes } from './users.ts';

export interface AdminDeps {
  issuer: string;
  version: string;
  /** present when REGISTRATION_ENABLED */
  registration:
    | { issueInitialAccessToken(expiresIn: number, uses: number): Promise<{ token: string; expiresAt: Date }> }
    | undefined;
  audience: string;
  /** clients written from configuration at every start (ADMIN_CLIENT_ID, the account page's client) */
  builtInClientIds: readonly string[];
  /** TLS_CLIENT_CERT_HEADER: where certificate-bound admin tokens find the client certificate */
  clientCertificateHeader: string | undefined;
  /** DPoP proofs seen by any instance (RFC 9449 §11.1: a proof is good once) */
  replay: ReplayCache;
  keys: {
    list(): Promise<readonly { kid: string; alg: string; current: boolean; createdAt: Date; expiresAt: Date | null }[]>;
    /** rotates and tells every instance */
    rotate(): Promise<string[]>;
  };
  accessTokens: AccessTokenService;
  clients: ClientService;
  /** several live secrets per client */
  clientSecrets: ClientSecretService;
  /** workload identity: trusted issuers and the subjects bound to clients */
  federation: FederationService;
  resources: ResourceService;
  accounts: AccountService;
  passkeys: PasskeyService;
  roles: RoleService;
  /** POST /admin/users/{id}/password-reset */
  passwordReset: Pick<PasswordResetService, 'sendFor'>;
  /** users' browser sessions (GET/DELETE /admin/users/{id}/sessions) */
  sessions: SessionService;
  /** the security event log (GET /admin/events, audit of changes) and sign-in lockouts (POST /admin/users/{id}/unlock) */
  security: LockoutDeps & { events: SecurityEventService };
}

/** The admin API under /admin: JSON in and out, every route behind an admin access token. */
export function createAdminRouter(deps: AdminDeps): Router {
  const router = new Router({ prefix: '/admin' });
  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  // the API's description is public: it holds no data, and tools fetch it before they have a token
  let openapi: Record<string, unknown> | undefined;
  router.get('/openapi.json', (ctx) => {
    openapi ??= buildOpenApi(router, deps.issuer, deps.version);
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = openapi;
  });
  // the reference page, rendered from the same document: readable in a browser without a token
  let reference: string | undefined;
  router.get('/docs', (ctx) => {
    openapi ??= buildOpenApi(router, deps.issuer, deps.version);
    reference ??= renderApiReference(openapi);
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = reference;
  });
  router.use(etagHeader);
  router.use(
    adminAuth(deps.accessTokens, deps.audience, {
      clientCertificateHeader: deps.clientCertificateHeader,
      replay: deps.replay,
      issuer: deps.issuer,
    }),
  );
  router.use(auditAdminChanges(deps.security.events));
  const delegation = createAdminDelegation({
    adminAudience: deps.audience,
    builtInClientIds: deps.builtInClientIds,
    resources: deps.resources,
    roles: deps.roles,
  });
  clientRoutes(router, deps.clients, deps.roles, delegation, deps.federation);
  clientSecretRoutes(router, deps.clients, deps.clientSecrets, delegation);
  federatedIssuerRoutes(router, deps.federation);
  resourceRoutes(router, deps.resources);
  userRoutes(router, deps.accounts, deps.roles, delegation);
  passkeyRoutes(router, deps.passkeys, deps.accounts, delegation);
  secondFactorRoutes(router, deps.security.secondFactors, deps.accounts, delegation);
  sessionRoutes(router, deps.sessions, deps.accounts, delegation);
  roleRoutes(router, deps.roles, delegation);
  eventRoutes(router, deps.security.events);
  lockoutRoutes(router, deps.security, delegation);
  passwordResetRoutes(router, deps.passwordReset, delegation);
  router.get('/keys', requireScope('keys:read'), responds('KeyList', listOf(KeyView)), async (ctx) => {
    ctx.body = {
      data: (await deps.keys.list()).map((k) => ({
        kid: k.kid,
        alg: k.alg,
        current: k.current,
        created_at: k.createdAt.toISOString(),
        expires_at: k.expiresAt?.toISOString() ?? null,
      })),
    };
  });
  router.post(
    '/initial-access-tokens',
    requireScope('clients:write', { event: 'initial_access_token.created' }),
    responds('InitialAccessToken', InitialAccessTokenView, 201),
    guard({ body: NewInitialAccessToken }),
    async (ctx) => {
      const { body } = guarded(ctx, { body: NewInitialAccessToken });
      if (!deps.registration) {
        throw new AppError('invalid_request', 400, 'dynamic client registration is off (REGISTRATION_ENABLED=false)');
      }
      const { token, expiresAt } = await deps.registration.issueInitialAccessToken(body.expires_in, body.uses);
      ctx.status = 201;
      ctx.body = { initial_access_token: token, expires_at: expiresAt.toISOString(), uses: body.uses };
    },
  );
  router.post(
    '/keys/rotate',
    requireScope('keys:write', { event: 'key.rotated' }),
    responds('KeysRotated', KeysRotated),
    async (ctx) => {
      ctx.body = { rotated: await deps.keys.rotate() };
    },
  );
  // anything else under /admin (after authentication, so paths are not probed anonymously):
  // 405 with Allow when the path exists with other methods, else 404
  router.all('not-found', '/{*rest}', (ctx) => {
    const allowed = new Set(
      (ctx.matched ?? []).filter((layer) => layer.name !== 'not-found').flatMap((layer) => layer.methods),
    );
    if (allowed.size > 0) {
      ctx.set('Allow', [...allowed].join(', '));
      throw new AppError('method_not_allowed', 405, `use ${[...allowed].join(', ')}`);
    }
    throw new AppError('not_found', 404, 'no such admin endpoint');
  });
  return router;
}
