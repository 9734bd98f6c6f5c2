import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { createAccountTokens } from '../services/account-tokens.ts';
import type { AccountService } from '../services/accounts.ts';
import type { BruteForceProtection } from '../services/brute-force.ts';
import { createEmailVerificationService } from '../services/email-verification.ts';
import type { Catalogs } from '../services/locales.ts';
import { createMailer } from '../services/mail.ts';
import { createOutbox, type Outbox } from '../services/outbox.ts';
import { createPasswordResetService } from '../services/password-reset.ts';
import type { PasswordService } from '../services/passwords.ts';
import type { RateLimitStore } from '../services/rate-limits.ts';
import type { DerivedKeys } from '../services/secrets.ts';
import type { SecurityEventService } from '../services/security-events.ts';
import type { Lifetime } from './lifetime.ts';
import { createMailTransport } from './mail-transport.ts';
import type { Repositories } from './repositories.ts';

const VIEWS_DIR = fileURLToPath(new URL('../../views', import.meta.url));

/** Another instance put a row in the outbox: wake this one's worker (PostgreSQL LISTEN/NOTIFY). */
const OUTBOX_CHANNEL = 'idp_outbox';
const HOUR = 3600;

/**
 * The durable outbox (docs/decisions/0013-mail-outbox.md): mail, back-channel logout tokens.
 * Another instance's insert wakes this one's worker through LISTEN/NOTIFY. The worker is started
 * by the jobs (jobs.ts), once everything is built.
 */
export async function openOutbox(deps: { config: Config; log: Logger; db: Database; repos: Repositories }) {
  const { config, log, db } = deps;
  const outbox = createOutbox({
    repo: deps.repos.outbox,
    log,
    notify: () => db.notify(OUTBOX_CHANNEL, ''),
    // quick retries in tests only (NODE_ENV=test), so a test of an SMTP outage takes seconds
    options: config.env === 'test' ? { baseDelayMs: 200, maxDelayMs: 2_000, pollMs: 1_000 } : {},
  });
  await db.listen(
    OUTBOX_CHANNEL,
    () => outbox.wake(),
    () => outbox.wake(),
  );
  return outbox;
}

/** What sends mail through the outbox: password reset, sign-up and email verification. */
export async function createSelfService(deps: {
  config: Config;
  issuer: string;
  log: Logger;
  secrets: DerivedKeys;
  repos: Repositories;
  lifetime: Lifetime;
  store: RateLimitStore;
  outbox: Outbox;
  accounts: AccountService;
  passwords: PasswordService;
  bruteForce: BruteForceProtection;
  events: SecurityEventService;
  /** the product name in mails (the pages' default) */
  productName: string;
  /** the message catalogs the pages use too: mails are written in the recipient's language */
  catalogs: Catalogs;
}) {
  const { config, issuer, log, repos, store, events, outbox } = deps;
  const transport = await createMailTransport(config, issuer, log);
  if (transport) deps.lifetime.defer(() => transport.close());
  const mailer = createMailer({
    outbox,
    transport,
    issuer,
    productName: deps.productName,
    viewsDir: VIEWS_DIR,
    catalogs: deps.catalogs,
    sealKey: deps.secrets.outboxSeal,
    log,
  });
  const tokens = createAccountTokens(repos.accountTokens);
  const hourly = (name: string, points: number) => store.limiter({ name, points, windowSeconds: HOUR });
  const perIp = hourly('mail_ip', config.mail.perIpPerHour);
  const perAddress = hourly('mail_address', config.mail.perAddressPerHour);
  const passwordReset = createPasswordResetService({
    issuer,
    accounts: deps.accounts,
    users: repos.users,
    passwords: deps.passwords,
    tokens,
    mailer,
    limits: { perIp, perName: perAddress, perAccount: hourly('mail_account', config.mail.perAddressPerHour) },
    bruteForce: deps.bruteForce,
    events,
    log,
  });
  const emailVerification = createEmailVerificationService({
    issuer,
    signup: { enabled: config.mail.signupEnabled, requireVerification: config.mail.signupRequiresVerification },
    accounts: deps.accounts,
    users: repos.users,
    passwords: deps.passwords,
    tokens,
    mailer,
    limits: { perIp, perAddress },
    events,
    log,
  });
  if (config.mail.signupEnabled && !mailer.available) {
    log.warn('SIGNUP_ENABLED is set but there is no mail transport: sign-up stays off');
  }
  return { mailer, passwordReset, emailVerification };
}
