import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { Config } from '../config/index.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { createAdapterFactory } from '../oidc/adapter.ts';
import { federatedClientAuth } from '../oidc/federated-client-auth.ts';
import { createInteractionPolicy } from '../oidc/interaction-policy.ts';
import { jwtAccessTokenSupport } from '../oidc/jwt-access-tokens.ts';
import { createMtls } from '../oidc/mtls.ts';
import { observeProvider } from '../oidc/observe.ts';
import { createProvider, type ProviderDeps } from '../oidc/provider.ts';
import { createInitialAccessTokenUses, REGISTRATION_POLICY } from '../oidc/registration.ts';
import { answerUnavailable } from '../oidc/unavailable.ts';
import { PENDING_MODEL } from '../services/pending-signins.ts';
import type { DerivedKeys } from '../services/secrets.ts';
import type { Repositories } from './repositories.ts';
import type { Services } from './services.ts';

/**
 * The current oidc-provider instance. It is built after the services it needs and rebuilt when the
 * signing keys change; what needs it at request time (the sign-in pages, the client metadata
 * check) asks this holder instead of keeping an instance.
 */
export interface ProviderHolder {
  current(): Provider;
  /** the request listener of the current provider */
  listener(req: IncomingMessage, res: ServerResponse): void;
  /** builds the provider with `build`, now and at every `rebuild` */
  use(build: () => Provider): void;
  rebuild(): void;
}

export function createProviderHolder(): ProviderHolder {
  let state: { build: () => Provider; provider: Provider; handler: ReturnType<Provider['callback']> } | undefined;
  const ready = () => {
    if (!state) throw new Error('provider not ready');
    return state;
  };
  const use = (build: () => Provider) => {
    const provider = build();
    state = { build, provider, handler: provider.callback() };
  };
  return {
    current: () => ready().provider,
    listener: (req, res) => ready().handler(req, res),
    use,
    rebuild: () => use(ready().build),
  };
}

/** oidc-provider's own check of client metadata (its features and algorithms), answered as a 400. */
export const clientValidator =
  (holder: Pick<ProviderHolder, 'current'>) =>
  async (metadata: Record<string, unknown>): Promise<void> => {
    try {
      await holder.current().Client.validate(metadata as never);
    } catch (err) {
      const e = err as { error?: string; error_description?: string };
      if (e.error === 'invalid_client_metadata' || e.error === 'invalid_redirect_uri') {
        throw new AppError(e.error, 400, e.error_description ?? e.error);
      }
      throw err;
    }
  };

export interface OidcDeps {
  config: Config;
  issuer: string;
  log: Logger;
  secrets: DerivedKeys;
  repos: Repositories;
  services: Services;
  holder: ProviderHolder;
}

/** oidc-provider's configuration: storage adapter, mTLS, prompts, and the RFC 7591 initial access tokens. */
export function createOidc(deps: OidcDeps) {
  const { config, issuer, log, secrets, repos, services, holder } = deps;
  const initialAccessTokens = createInitialAccessTokenUses(repos.payloads);
  const adapter = createAdapterFactory({
    payloads: repos.payloads,
    clients: services.clients,
    initialAccessTokens,
    replay: repos.replayKeys,
    sessions: services.sessions,
    endsWithInteraction: PENDING_MODEL,
  });
  const interactionPolicy = createInteractionPolicy(services.needsMfa);
  // RFC 8705: client certificates from our own TLS socket, or from the trusted proxy's header
  const mtls = createMtls({
    clientCaFile: config.clientCaFile,
    tlsRequestsCertificates: config.tls?.clientCaFile !== undefined,
    forwardedHeader: config.clientCertHeader,
  });

  return {
    /** what the admin API issues RFC 7591 initial access tokens with, when REGISTRATION_ENABLED */
    registration: config.registrationEnabled
      ? {
          async issueInitialAccessToken(expiresIn: number, uses: number) {
            const iat = new (holder.current().InitialAccessToken)({ expiresIn, policies: [REGISTRATION_POLICY] });
            const token = await iat.save();
            await initialAccessTokens.grant(iat.jti, uses, expiresIn);
            return { token, expiresAt: new Date(Date.now() + expiresIn * 1000) };
          },
        }
      : undefined,

    /** A provider with the current signing keys; `front` puts our HTTP surface before its routes. */
    build(pages: ProviderDeps['pages'], front: (provider: Provider) => Provider): Provider {
      const created = createProvider({
        issuer,
        keystore: services.keystore.current,
        cookieKeys: secrets.cookieKeys,
        clients: services.clients,
        federation: services.federation,
        resources: services.resources,
        roles: services.roles,
        accessTokens: services.accessTokens,
        events: services.events,
        adapter,
        trustProxy: config.trustProxy,
        log,
        registrationEnabled: config.registrationEnabled,
        deviceFlow: { ttlSeconds: config.deviceCodeTtlSeconds, guard: services.deviceGuard },
        backchannelLogout: (client, accountId, sid) => services.backchannel.notify(client.clientId, accountId, sid),
        mtls,
        dpopNonceSecret: secrets.dpopNonce,
        findAccount: (_ctx, sub) => services.accounts.findAccount(sub),
        interactionPolicy,
        uiLocales: services.catalogs.tags,
        pages,
      });
      // TRUST_PROXY: that many proxies in front of us, each appending the address it saw to
      // X-Forwarded-For. Koa would take the leftmost entry, which the client wrote itself, so
      // every rate limit and lockout per address would count whatever the client claims. With
      // `maxIpsCount` it keeps only the last entries and takes the first of those: the client's
      // address as our outermost proxy (a CDN in front of a load balancer) saw it.
      created.maxIpsCount = Math.max(config.proxyHops, 1);
      // a database out of reach: 503 with Retry-After at its JSON endpoints, not 500
      answerUnavailable(created);
      // token and introspection limits, token events, route labels for the metrics
      const built = observeProvider(front(created), services.protection, services.routeLabels);
      // innermost, next to oidc-provider's routes: the request log, the metrics and the limits
      // around it see the answer it gives, not the refusal it replaces
      built.use(jwtAccessTokenSupport(built, services.accessTokens));
      // inside the limits and events: a refused assertion counts as a failed client authentication
      built.use(federatedClientAuth(services.federation, built.pathFor('token')));
      return built;
    },
  };
}
