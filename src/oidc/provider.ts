import Provider, { type Configuration, errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../logger.ts';
import type { AccessTokenService } from '../services/access-tokens.ts';
import { ACR_VALUES } from '../services/authentication-policy.ts';
import type { ClientService } from '../services/clients.ts';
import type { DeviceFlowGuard } from '../services/device-flow.ts';
import type { FederationService } from '../services/federation.ts';
import type { Keystore } from '../services/keys.ts';
import type { ResourceService } from '../services/resources.ts';
import type { RoleService } from '../services/roles.ts';
import { generateClientSecret } from '../services/secrets.ts';
import type { SecurityEventService } from '../services/security-events.ts';
import type { createAdapterFactory } from './adapter.ts';
import { enforceDevicePolling } from './device-flow.ts';
import { FAPI_PROFILES, fapiClientProblem, fapiProfileOf } from './fapi.ts';
import { createLoadExistingGrant } from './first-party-grant.ts';
import { INTROSPECTION_AUDIENCES, introspectionAudiencesProblem, mayIntrospect } from './introspection-policy.ts';
import { answerJwtsInRoute } from './jwt-access-tokens.ts';
import type { Mtls } from './mtls.ts';
import { outboundFetch } from './outbound-fetch.ts';
import { hideStoredSecretsUnder, REGISTRATION_POLICY, registrationPolicy } from './registration.ts';
import { createResourceIndicators } from './resource-indicators.ts';
import { registerTokenExchange, TOKEN_EXCHANGE, tokenExchangeProblem } from './token-exchange.ts';

export interface ProviderDeps {
  issuer: string;
  keystore: Keystore;
  cookieKeys: readonly string[];
  clients: ClientService;
  /** workload identity: proofs of a federated client authentication (federated-client-auth.ts) */
  federation: Pick<FederationService, 'acceptsProof'>;
  resources: ResourceService;
  roles: RoleService;
  accessTokens: AccessTokenService;
  /** token exchanges record their events themselves (token-exchange.ts), and the consent a
   * first-party client gets without asking is recorded (first-party-grant.ts) */
  events: Pick<SecurityEventService, 'record'>;
  adapter: ReturnType<typeof createAdapterFactory>;
  trustProxy: boolean;
  log: Logger;
  /** RFC 8705, when client certificates can arrive (see mtls.ts); undefined when none can */
  mtls: Mtls | undefined;
  /** 32 bytes derived from SECRETS_KEY: RFC 9449 §8 server nonces */
  dpopNonceSecret: Buffer;
  /** oidc-provider's prompts with our second-factor check (src/oidc/interaction-policy.ts) */
  interactionPolicy: NonNullable<NonNullable<Configuration['interactions']>['policy']>;
  registrationEnabled: boolean;
  /** RFC 8628: how long device and user codes live; the limits on polling */
  deviceFlow: { ttlSeconds: number; guard: DeviceFlowGuard };
  /**
   * OpenID Connect Back-Channel Logout 1.0: takes over oidc-provider's immediate POST of a
   * logout token (end_session) and hands it to a durable queue that signs and delivers it
   */
  backchannelLogout(client: { clientId: string }, accountId: string, sid: string): Promise<void>;
  findAccount: NonNullable<Configuration['findAccount']>;
  /** the languages of the pages (views/locales), advertised as `ui_locales_supported` */
  uiLocales: readonly string[];
  /** the pages oidc-provider renders itself: errors and the logout steps */
  pages: {
    renderError: NonNullable<Configuration['renderError']>;
    logoutSource: NonNullable<NonNullable<Configuration['features']>['rpInitiatedLogout']>['logoutSource'];
    postLogoutSuccessSource: NonNullable<
      NonNullable<Configuration['features']>['rpInitiatedLogout']
    >['postLogoutSuccessSource'];
    /** the device flow's code entry, confirmation and success pages */
    device: {
      userCodeInputSource: unknown;
      userCodeConfirmSource: unknown;
      successSource: unknown;
    };
  };
}

/** Asymmetric algorithms only: client secrets are stored hashed, so no HMAC key exists to share. */
/**
 * Seconds an ID token, and an access token for no API of ours, is valid. With the APIs' own
 * `accessTokenTtl`, the longest any signed token lives: how long a replaced key stays published.
 */
export const DEFAULT_TOKEN_TTL = 3600;

const ASYMMETRIC = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

export function createProvider(deps: ProviderDeps): Provider {
  const { issuer, clients, resources, log } = deps;
  const indicators = createResourceIndicators({ clients, resources, roles: deps.roles });
  // set once the provider exists: its extraTokenClaims adds `act` to the tokens an exchange issues
  let exchange: ReturnType<typeof registerTokenExchange> | undefined;

  const configuration: Configuration = {
    adapter: deps.adapter,
    jwks: { keys: deps.keystore.privateJwks as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      keys: [...deps.cookieKeys],
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    // RFC 9700 §2.1.2: no implicit flow; §2.4: no password grant (oidc-provider has none)
    responseTypes: ['code'],
    // RFC 9700 §2.1.1: PKCE for every client, S256 only (the only method oidc-provider 9 offers)
    pkce: { required: () => true },
    clientAuthMethods: [
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
      'none',
      ...(deps.mtls ? (['tls_client_auth', 'self_signed_tls_client_auth'] as const) : []),
    ],
    enabledJWA: {
      clientAuthSigningAlgValues: ASYMMETRIC,
      requestObjectSigningAlgValues: ASYMMETRIC,
      idTokenSigningAlgValues: ASYMMETRIC,
      userinfoSigningAlgValues: ASYMMETRIC,
      introspectionSigningAlgValues: ASYMMETRIC,
      authorizationSigningAlgValues: ASYMMETRIC,
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    extraClientMetadata: {
      // first_party: the admin marks the client as ours, so its consent screen may be skipped
      // require_mfa: sign-ins for this client need a passkey as well as (or instead of) the password
      // fapi_profile: "2.0" puts the client under the FAPI 2.0 Security Profile (see fapi.ts)
      // introspection_audiences: the APIs whose tokens this client may introspect (introspection-policy.ts)
      // tokenExchange: which subject tokens this client may exchange (RFC 8693, token-exchange.ts)
      properties: ['first_party', 'require_mfa', 'fapi_profile', INTROSPECTION_AUDIENCES, TOKEN_EXCHANGE],
      // oidc-provider's own error: it answers 400 invalid_client_metadata at /reg (anything else is a 500)
      validator(_ctx, key, value, metadata) {
        if ((key === 'first_party' || key === 'require_mfa') && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata(`${key} must be a boolean`);
        }
        if (key === 'fapi_profile' && value !== undefined) {
          if (!FAPI_PROFILES.includes(value as never)) {
            throw new errors.InvalidClientMetadata('fapi_profile must be off or 2.0');
          }
          const problem = value === '2.0' ? fapiClientProblem(metadata) : undefined;
          if (problem) throw new errors.InvalidClientMetadata(problem);
        }
        if (key === TOKEN_EXCHANGE) {
          const problem = tokenExchangeProblem(value);
          if (problem) throw new errors.InvalidClientMetadata(problem);
        }
        if (key === INTROSPECTION_AUDIENCES) {
          const problem = introspectionAudiencesProblem(value);
          if (problem) throw new errors.InvalidClientMetadata(problem);
        }
      },
    },
    // client jwks_uri and sector_identifier_uri: https to public addresses only (SSRF)
    fetch: outboundFetch,
    // the redirect_uri parameter is always required: no guessing, even with one registered
    allowOmittingSingleRegisteredRedirectUri: false,
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    // OIDC Discovery §3: the languages `ui_locales` can pick for our pages
    discovery: { ui_locales_supported: [...deps.uiLocales] },
    claims: {
      // acr and amr (RFC 8176) in every ID token, not only when the claims parameter asks for them
      openid: ['sub', 'acr', 'amr'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username', 'updated_at'],
      email: ['email', 'email_verified'],
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
    },
    // the feature types are a union @types/oidc-provider cannot narrow here; the values follow its docs
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // the token's own client, or the resource server it is for (introspection-policy.ts)
        allowedPolicy: async (_ctx, client, token) => mayIntrospect(client, token),
      },
      revocation: {
        enabled: true,
        // RFC 7009 §2.1: a client may revoke only the tokens issued to it
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: indicators.defaultResource,
        getResourceServerInfo: indicators.getResourceServerInfo,
        useGrantedResource: async () => true,
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: deps.pages.logoutSource,
        postLogoutSuccessSource: deps.pages.postLogoutSuccessSource,
      },
      userinfo: { enabled: true },
      // RFC 8628: codes of 8 letters from a 20-letter alphabet without vowels, shown as XXXX-XXXX;
      // entry is rate limited (src/services/device-flow.ts), polling too (./device-flow.ts)
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource: deps.pages.device.userCodeInputSource,
        userCodeConfirmSource: deps.pages.device.userCodeConfirmSource,
        successSource: deps.pages.device.successSource,
      },
      // OpenID Connect Back-Channel Logout 1.0, delivered through a durable queue (see below)
      backchannelLogout: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      // RFC 7591/7592, off unless REGISTRATION_ENABLED: every registration needs an initial
      // access token from the admin API, and passes the same rules as an admin's (registration.ts)
      registration: {
        enabled: deps.registrationEnabled,
        initialAccessToken: true,
        issueRegistrationAccessToken: true,
        secretFactory: async () => generateClientSecret(),
        policies: { [REGISTRATION_POLICY]: registrationPolicy },
      },
      registrationManagement: { enabled: deps.registrationEnabled, rotateRegistrationAccessToken: true },
      // RFC 9449: DPoP-bound tokens (cnf.jkt) for clients that send a proof or register
      // dpop_bound_access_tokens; proofs are single-use (allowReplay false). §8: a server nonce
      // is required, so a proof cannot be made ahead of time by a thief of the key
      // for later use; openid-client and other conforming clients retry with the nonce.
      dPoP: {
        enabled: true,
        allowReplay: false,
        nonceSecret: deps.dpopNonceSecret,
        requireNonce: () => true,
      },
      mTLS: deps.mtls?.feature ?? { enabled: false },
      fapi: { enabled: true, profile: fapiProfileOf },
    } as Configuration['features'],
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? DEFAULT_TOKEN_TTL,
      AuthorizationCode: 60,
      DeviceCode: deps.deviceFlow.ttlSeconds,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
      IdToken: DEFAULT_TOKEN_TTL,
      Interaction: 3600,
      Grant: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      RefreshToken: (ctx, token, client) => {
        // a public browser client's rotated refresh token never outlives the first one
        const rotated = ctx?.oidc?.entities.RotatedRefreshToken;
        if (
          rotated &&
          client.applicationType === 'web' &&
          client.clientAuthMethod === 'none' &&
          !token.isSenderConstrained()
        ) {
          return rotated.remainingTTL;
        }
        return 14 * 24 * 3600;
      },
    },
    // not async: a plain service token passes with no promise made
    extraTokenClaims: ((ctx: KoaContextWithOIDC, token: Parameters<typeof indicators.extraTokenClaims>[1]) => {
      const exchanged = exchange?.claimsOf(token);
      if (!exchanged) return indicators.extraTokenClaims(ctx, token);
      return exchangedClaims(ctx, token, exchanged);
    }) as Configuration['extraTokenClaims'],
    // RFC 9700 §4.14.2: rotate refresh tokens on every use; reuse of a rotated one revokes the grant
    rotateRefreshToken: () => true,
    findAccount: deps.findAccount,
    loadExistingGrant: createLoadExistingGrant({ events: deps.events }),
    acrValues: [...ACR_VALUES],
    interactions: {
      policy: deps.interactionPolicy,
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    renderError: deps.pages.renderError,
  };

  async function exchangedClaims(
    ctx: KoaContextWithOIDC,
    token: Parameters<typeof indicators.extraTokenClaims>[1],
    exchanged: NonNullable<ReturnType<NonNullable<typeof exchange>['claimsOf']>>,
  ) {
    // an exchanged client-credentials token: `accountId` holds the subject client's id
    const subject =
      exchanged.sub_kind === 'client'
        ? { clientId: token.accountId ?? '', resourceServer: token.resourceServer ?? {} }
        : token;
    return { ...(await indicators.extraTokenClaims(ctx, subject)), ...exchanged };
  }

  answerJwtsInRoute();
  const provider = new Provider(issuer, configuration);
  provider.proxy = deps.trustProxy;
  exchange = registerTokenExchange(provider, {
    accessTokens: deps.accessTokens,
    events: deps.events,
    resourceFor: indicators.forExchange,
  });
  provider.use(exchange.refusals);

  // oidc-provider hashes a client's whole metadata on every lookup to find its cached Client
  // instance. The client service hands back the same frozen metadata object until the client
  // changes, so key the instances on that object instead: no JSON and no hash per token request.
  const ClientModel = provider.Client as unknown as { find(id: unknown): Promise<unknown> };
  const findClient = ClientModel.find.bind(ClientModel);
  const instances = new WeakMap<object, unknown>();
  ClientModel.find = async (id: unknown) => {
    const cached = typeof id === 'string' && id.length > 0 ? await clients.resolve(id) : undefined;
    if (!cached) return findClient(id);
    let instance = instances.get(cached.providerMetadata);
    if (instance === undefined) {
      instance = await findClient(id);
      if (instance !== undefined) instances.set(cached.providerMetadata, instance);
    }
    return instance;
  };

  // Client secrets are stored only as keyed hashes, several live at once: the presented secret
  // is verified against them. A client that a federated assertion authenticated for this very
  // request presents the proof made for it instead (federated-client-auth.ts).
  const ClientClass = provider.Client as unknown as { prototype: { compareClientSecret(actual: string): unknown } };
  ClientClass.prototype.compareClientSecret = function compareClientSecret(this: { clientId?: string }, actual) {
    if (deps.federation.acceptsProof(this.clientId, actual)) return true;
    return clients.verifySecret(this.clientId, actual);
  };

  // At /reg, oidc-provider decides whether a client needs a secret before it checks the
  // metadata's types, matching its *_alg and *_enc values against a pattern: a JSON object there
  // (`{"toString": 1}` cannot be made a string) threw a 500. Decide on the string values only;
  // the schema check that follows refuses the rest with 400 invalid_client_metadata.
  const ClientStatics = provider.Client as unknown as { needsSecret(metadata: Record<string, unknown>): boolean };
  const needsSecret = ClientStatics.needsSecret.bind(ClientStatics);
  ClientStatics.needsSecret = (metadata) =>
    needsSecret(Object.fromEntries(Object.entries(metadata).filter(([, value]) => typeof value !== 'object')));

  // end_session would POST the logout token itself, once, and wait for the answer: queue it
  // instead, so it is retried until delivered and the sign-out does not wait on the client
  const Clients = provider.Client as unknown as {
    prototype: { backchannelLogout(this: { clientId: string }, sub: string, sid: string): Promise<void> };
  };
  Clients.prototype.backchannelLogout = function backchannelLogout(sub, sid) {
    return deps.backchannelLogout(this, sub, sid);
  };

  enforceDevicePolling(provider, deps.deviceFlow.guard);
  if (deps.registrationEnabled) provider.use(hideStoredSecretsUnder(provider.pathFor('registration')));
  if (deps.mtls) provider.use(deps.mtls.discoveryAliases);

  provider.on('server_error', (ctx: KoaContextWithOIDC, err: Error) => {
    log.error({ err, route: ctx.oidc?.route }, 'provider error');
  });
  return provider;
}
