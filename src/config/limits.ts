import { z } from 'zod';
import { integerEnv, optionalIntegerEnv } from './numbers.ts';

/**
 * The environment variables of rate limits, brute-force lockout, the security event log and
 * metrics. Spread into the environment schema in `index.ts`; defaults are in the README.
 */

const count = (fallback: number, max = 1_000_000) => integerEnv(0, max, fallback);

export const LimitsEnv = {
  /** the window every RATE_LIMIT_* count is per, in seconds */
  RATE_LIMIT_WINDOW: integerEnv(1, 3600, 60),
  /** token requests per authenticated client per window (0: no limit) */
  RATE_LIMIT_TOKEN: count(1200),
  /** introspection and revocation requests per authenticated client per window */
  RATE_LIMIT_INTROSPECTION: count(6000),
  /** failed client authentications per address per window */
  RATE_LIMIT_CLIENT_AUTH_FAILURES: count(30),
  /** sign-in attempts per address per window */
  RATE_LIMIT_SIGNIN_IP: count(30),
  /** sign-in attempts per account name per window, from anywhere */
  RATE_LIMIT_SIGNIN_ACCOUNT: count(10),
  /** admin API requests per address per window */
  RATE_LIMIT_ADMIN: count(600),
  /** failed sign-ins for one account from one address before that pair is locked (0: never) */
  LOCKOUT_THRESHOLD: count(10, 10_000),
  /** failed sign-ins for one account from all addresses before it is locked everywhere (0: never) */
  LOCKOUT_ACCOUNT_THRESHOLD: count(50, 100_000),
  /** how long a lockout lasts, and the window failures are counted in */
  LOCKOUT_SECONDS: integerEnv(1, 86_400, 900),
  /** the first progressive delay after repeated failures; it doubles with each further failure */
  SIGNIN_DELAY_MS: count(250, 10_000),
  /** days a security event is kept */
  EVENT_RETENTION_DAYS: integerEnv(1, 3650, 90),
  /** failures per minute for one account, address or client that count as a surge */
  SURGE_FAILURES_PER_MINUTE: count(20),
  /** token requests per minute for one client or address that count as a surge */
  SURGE_TOKENS_PER_MINUTE: count(3000),
  /** the least time between two early JWKS fetches of one federated issuer (a token naming an unknown key) */
  FEDERATION_JWKS_COOLDOWN_SECONDS: integerEnv(0, 3600, 30),
  /** serve /metrics on this port instead of the main one */
  METRICS_PORT: optionalIntegerEnv(0, 65535),
  /** a bearer token /metrics requires; in production /metrics is on the main port only with one */
  METRICS_TOKEN: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))
    .pipe(
      z
        .string()
        .regex(/^[\x21-\x7e]{32,256}$/, 'must be 32 to 256 printable ASCII characters without spaces')
        .optional(),
    ),
};

type LimitsEnvValues = z.infer<z.ZodObject<typeof LimitsEnv>>;

export interface LimitsConfig {
  readonly rateLimits: {
    readonly windowSeconds: number;
    readonly tokenPerClient: number;
    readonly introspectionPerClient: number;
    readonly clientAuthFailuresPerIp: number;
    readonly signinPerIp: number;
    readonly signinPerAccount: number;
    readonly adminPerIp: number;
  };
  readonly lockout: {
    readonly threshold: number;
    readonly accountThreshold: number;
    readonly seconds: number;
    readonly delayMs: number;
  };
  readonly eventRetentionDays: number;
  readonly surge: { readonly failuresPerMinute: number; readonly tokensPerMinute: number };
  readonly metricsPort: number | undefined;
  readonly metricsToken: string | undefined;
  readonly federationJwksCooldownSeconds: number;
}

export function limitsConfig(e: LimitsEnvValues): LimitsConfig {
  return Object.freeze({
    rateLimits: Object.freeze({
      windowSeconds: e.RATE_LIMIT_WINDOW,
      tokenPerClient: e.RATE_LIMIT_TOKEN,
      introspectionPerClient: e.RATE_LIMIT_INTROSPECTION,
      clientAuthFailuresPerIp: e.RATE_LIMIT_CLIENT_AUTH_FAILURES,
      signinPerIp: e.RATE_LIMIT_SIGNIN_IP,
      signinPerAccount: e.RATE_LIMIT_SIGNIN_ACCOUNT,
      adminPerIp: e.RATE_LIMIT_ADMIN,
    }),
    lockout: Object.freeze({
      threshold: e.LOCKOUT_THRESHOLD,
      accountThreshold: e.LOCKOUT_ACCOUNT_THRESHOLD,
      seconds: e.LOCKOUT_SECONDS,
      delayMs: e.SIGNIN_DELAY_MS,
    }),
    eventRetentionDays: e.EVENT_RETENTION_DAYS,
    surge: Object.freeze({
      failuresPerMinute: e.SURGE_FAILURES_PER_MINUTE,
      tokensPerMinute: e.SURGE_TOKENS_PER_MINUTE,
    }),
    metricsPort: e.METRICS_PORT,
    metricsToken: e.METRICS_TOKEN,
    federationJwksCooldownSeconds: e.FEDERATION_JWKS_COOLDOWN_SECONDS,
  });
}
