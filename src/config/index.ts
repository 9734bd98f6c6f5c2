import { z } from 'zod';
import { type BrandConfig, BrandEnv, brandConfig } from './brand.ts';
import { type LimitsConfig, LimitsEnv, limitsConfig } from './limits.ts';
import { type MailConfig, MailEnv, mailConfig } from './mail.ts';
import { integerEnv, optionalIntegerEnv } from './numbers.ts';
import { type TelemetryConfig, TelemetryEnv, telemetryConfig } from './telemetry.ts';
import { type WebhookConfig, WebhookEnv, webhookConfig } from './webhooks.ts';

/** Thrown when the environment is invalid; its message is one line naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * TRUST_PROXY: how many proxies in front of us append to X-Forwarded-For (a CDN and a load
 * balancer are two). `true` is one, `false` none; anything else is refused rather than guessed.
 */
const MAX_PROXY_HOPS = 10;
const proxyHops = z
  .string()
  .optional()
  .transform((raw, ctx): number => {
    const v = raw?.trim() ?? '';
    const word = v.toLowerCase();
    if (word === '' || word === 'false' || word === 'no') return 0;
    if (word === 'true' || word === 'yes') return 1;
    const n = /^\d{1,2}$/.test(v) ? Number(v) : Number.NaN;
    if (!(n >= 0 && n <= MAX_PROXY_HOPS)) {
      ctx.addIssue({
        code: 'custom',
        message: `must be true, false or the number of proxies from 0 to ${MAX_PROXY_HOPS} (got ${v.length > 24 ? `${v.slice(0, 24)}...` : v})`,
      });
      return z.NEVER;
    }
    return n;
  });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const absoluteUrl = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      const url = URL.parse(v);
      return url !== null && protocols.includes(url.protocol);
    },
    `must be an absolute ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL`,
  );

const EnvSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'], { error: 'must be development, production or test' })
    .default('development'),
  PORT: integerEnv(0, 65535, 3000),
  HOST: optionalString,
  ISSUER: optionalString.pipe(absoluteUrl(['http:', 'https:']).optional()),
  DATABASE_URL: optionalString.pipe(absoluteUrl(['postgres:', 'postgresql:']).optional()),
  /** a session-capable connection (not through a transaction pooler) for LISTEN and the migrator's lock */
  DATABASE_DIRECT_URL: optionalString.pipe(absoluteUrl(['postgres:', 'postgresql:']).optional()),
  DATA_DIR: z.string().min(1, 'must not be empty').default('./.data'),
  REDIS_URL: optionalString.pipe(absoluteUrl(['redis:', 'rediss:']).optional()),
  ADMIN_CLIENT_ID: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9._~-]{1,128}$/, 'must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -')
      .optional(),
  ),
  ADMIN_CLIENT_SECRET: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  SECRETS_KEY: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  TLS_CERT_FILE: optionalString,
  TLS_KEY_FILE: optionalString,
  TLS_CLIENT_CA_FILE: optionalString,
  TRUST_PROXY: proxyHops,
  TLS_CLIENT_CERT_HEADER: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, 'must be an HTTP header name')
      .transform((v) => v.toLowerCase())
      .optional(),
  ),
  /** every sign-in needs a passkey (but the account page, where people add their first one) */
  MFA_REQUIRED: bool.default(false),
  /** seconds between sweeps of expired protocol artifacts */
  PURGE_INTERVAL: integerEnv(1, 86_400, 300),
  /** RFC 7591/7592 dynamic client registration, with initial access tokens from the admin API */
  REGISTRATION_ENABLED: bool.default(false),
  /** a new signing key is published this long before it signs (at most a week) */
  KEY_PUBLISH_AHEAD_SECONDS: integerEnv(0, 7 * 86_400, 600),
  /** rotate the signing keys when the active ones are this many days old; unset: only on demand */
  KEY_ROTATION_DAYS: optionalIntegerEnv(1, 3650),
  /** RFC 8628: how long a device code and its user code stay valid */
  DEVICE_CODE_TTL_SECONDS: integerEnv(60, 3600, 600),
  ...LimitsEnv,
  ...BrandEnv,
  ...MailEnv,
  ...WebhookEnv,
  ...TelemetryEnv,
});

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host: string;
  /** undefined until the port is known when ISSUER is not set (PORT=0) */
  readonly issuer: string | undefined;
  readonly databaseUrl: string | undefined;
  /**
   * DATABASE_DIRECT_URL: where session features go (LISTEN, session advisory locks) when
   * DATABASE_URL points at a transaction pooler such as PgBouncer; DATABASE_URL when unset
   */
  readonly databaseDirectUrl: string | undefined;
  readonly dataDir: string;
  readonly redisUrl: string | undefined;
  readonly adminClient: { readonly id: string; readonly secret: string } | undefined;
  /** undefined in development until generated into DATA_DIR (see secrets-key.ts) */
  readonly secretsKey: string | undefined;
  readonly logLevel: string;
  readonly tls:
    | { readonly certFile: string; readonly keyFile: string; readonly clientCaFile: string | undefined }
    | undefined;
  readonly trustProxy: boolean;
  /** TRUST_PROXY: how many proxies append to X-Forwarded-For; the client is that many entries from the right */
  readonly proxyHops: number;
  /** the CAs that issue client certificates (mTLS), for the TLS socket and for forwarded certificates */
  readonly clientCaFile: string | undefined;
  /** lower-case name of the header in which the trusted proxy forwards the client certificate */
  readonly clientCertHeader: string | undefined;
  readonly purgeIntervalSeconds: number;
  readonly registrationEnabled: boolean;
  /** signing keys: published `publishAheadSeconds` before they sign; rotated every `rotationDays` when set */
  readonly keys: { readonly publishAheadSeconds: number; readonly rotationDays: number | undefined };
  /** DEVICE_CODE_TTL_SECONDS: RFC 8628 device and user codes live this long */
  readonly deviceCodeTtlSeconds: number;
  /** MFA_REQUIRED: a passkey for every sign-in */
  readonly mfaRequired: boolean;
  /** rate limits, lockout, event retention, surge detection, metrics port */
  readonly limits: LimitsConfig;
  /** PRODUCT_NAME, BRAND_COLOR, BRAND_LOGO_FILE */
  readonly brand: BrandConfig;
  /** SMTP_URL, MAIL_FROM, SIGNUP_*, MAIL_RATE_LIMIT_* */
  readonly mail: MailConfig;
  readonly webhooks: WebhookConfig;
  readonly telemetry: TelemetryConfig;
}

const isLocalHost = (hostname: string) =>
  hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '127.0.0.1' || hostname === '[::1]';

/**
 * Parses the environment once. Nothing else in the program reads `process.env`.
 * @throws ConfigError with one line naming the variable and what is wrong with it
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(`${name}: ${issue?.message ?? 'invalid'}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';

  if ((e.ADMIN_CLIENT_ID === undefined) !== (e.ADMIN_CLIENT_SECRET === undefined)) {
    throw new ConfigError('ADMIN_CLIENT_SECRET: ADMIN_CLIENT_ID and ADMIN_CLIENT_SECRET must be set together');
  }
  if (e.DATABASE_DIRECT_URL !== undefined && e.DATABASE_URL === undefined) {
    throw new ConfigError('DATABASE_DIRECT_URL: needs DATABASE_URL (the embedded database has no direct connection)');
  }
  if ((e.TLS_CERT_FILE === undefined) !== (e.TLS_KEY_FILE === undefined)) {
    throw new ConfigError('TLS_KEY_FILE: TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  }
  if (e.TLS_CLIENT_CA_FILE !== undefined && e.TLS_CERT_FILE === undefined && e.TLS_CLIENT_CERT_HEADER === undefined) {
    throw new ConfigError('TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE, or TLS_CLIENT_CERT_HEADER');
  }
  // anyone could send the header: it is believed only from the proxy we were told to trust
  if (e.TLS_CLIENT_CERT_HEADER !== undefined && e.TRUST_PROXY === 0) {
    throw new ConfigError('TLS_CLIENT_CERT_HEADER: needs TRUST_PROXY=true');
  }

  if (e.KEY_ROTATION_DAYS !== undefined && e.KEY_ROTATION_DAYS * 86_400 <= e.KEY_PUBLISH_AHEAD_SECONDS) {
    throw new ConfigError('KEY_ROTATION_DAYS: must be longer than KEY_PUBLISH_AHEAD_SECONDS');
  }

  let issuer = e.ISSUER?.replace(/\/+$/, '');
  if (issuer !== undefined) {
    const url = new URL(issuer);
    if (url.search || url.hash) throw new ConfigError('ISSUER: must not have a query or fragment');
    if (production && url.protocol === 'http:' && !isLocalHost(url.hostname)) {
      throw new ConfigError('ISSUER: must be https in production (http is allowed only on localhost)');
    }
  } else if (e.PORT !== 0) {
    issuer = `http://localhost:${e.PORT}`;
  }
  if (production) {
    if (e.SECRETS_KEY === undefined) throw new ConfigError('SECRETS_KEY: required when NODE_ENV=production');
    if (e.ISSUER === undefined) throw new ConfigError('ISSUER: required when NODE_ENV=production');
  }

  return Object.freeze({
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST ?? (production ? '0.0.0.0' : '127.0.0.1'),
    issuer,
    databaseUrl: e.DATABASE_URL,
    databaseDirectUrl: e.DATABASE_DIRECT_URL ?? e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    redisUrl: e.REDIS_URL,
    adminClient:
      e.ADMIN_CLIENT_ID !== undefined && e.ADMIN_CLIENT_SECRET !== undefined
        ? Object.freeze({ id: e.ADMIN_CLIENT_ID, secret: e.ADMIN_CLIENT_SECRET })
        : undefined,
    secretsKey: e.SECRETS_KEY,
    logLevel: e.LOG_LEVEL,
    tls:
      e.TLS_CERT_FILE !== undefined && e.TLS_KEY_FILE !== undefined
        ? Object.freeze({ certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE, clientCaFile: e.TLS_CLIENT_CA_FILE })
        : undefined,
    trustProxy: e.TRUST_PROXY > 0,
    proxyHops: e.TRUST_PROXY,
    clientCaFile: e.TLS_CLIENT_CA_FILE,
    clientCertHeader: e.TLS_CLIENT_CERT_HEADER,
    purgeIntervalSeconds: e.PURGE_INTERVAL,
    registrationEnabled: e.REGISTRATION_ENABLED,
    keys: Object.freeze({ publishAheadSeconds: e.KEY_PUBLISH_AHEAD_SECONDS, rotationDays: e.KEY_ROTATION_DAYS }),
    deviceCodeTtlSeconds: e.DEVICE_CODE_TTL_SECONDS,
    mfaRequired: e.MFA_REQUIRED,
    limits: limitsConfig(e),
    brand: brandConfig(e, (line) => {
      throw new ConfigError(line);
    }),
    mail: mailConfig(e),
    webhooks: webhookConfig(e),
    telemetry: telemetryConfig(e),
  });
}
