import { z } from 'zod';
import { integerEnv } from './numbers.ts';

/**
 * The environment variables of mail and of the self-service pages that need it (password reset,
 * sign-up, email verification). Spread into the environment schema in `index.ts`; documented in
 * the README's "Mail" section.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** an address, or `Name <address>` */
const MAIL_ADDRESS = /^(?:[^<>\r\n]{0,100}<[^\s<>@]{1,64}@[^\s<>@]{1,253}>|[^\s<>@]{1,64}@[^\s<>@]{1,253})$/;

export const MailEnv = {
  /** smtp://user:pass@host:port (STARTTLS when offered) or smtps://... (TLS from the start) */
  SMTP_URL: optional.pipe(
    z
      .string()
      .refine((v) => {
        const url = URL.parse(v);
        return url !== null && (url.protocol === 'smtp:' || url.protocol === 'smtps:') && url.hostname !== '';
      }, 'must be an smtp:// or smtps:// URL with a host')
      .optional(),
  ),
  /** the sender: an address or `Name <address>`; default no-reply@ the issuer's host */
  MAIL_FROM: optional.pipe(z.string().regex(MAIL_ADDRESS, 'must be an email address or Name <address>').optional()),
  /** people may create their own accounts from the sign-in page */
  SIGNUP_ENABLED: bool.default(false),
  /** a self-made account signs in only once its address is verified */
  SIGNUP_REQUIRE_VERIFICATION: bool.default(true),
  /** password reset, sign-up and verification mails asked for per client address per hour (0: no limit) */
  MAIL_RATE_LIMIT_IP: integerEnv(0, 100_000, 20),
  /** the same per email address, username and account per hour (0: no limit) */
  MAIL_RATE_LIMIT_ADDRESS: integerEnv(0, 10_000, 5),
};

type MailEnvValues = z.infer<z.ZodObject<typeof MailEnv>>;

export interface MailConfig {
  /** undefined: no transport (development logs mails; production refuses what needs them) */
  readonly smtpUrl: string | undefined;
  readonly from: string | undefined;
  readonly signupEnabled: boolean;
  readonly signupRequiresVerification: boolean;
  readonly perIpPerHour: number;
  readonly perAddressPerHour: number;
}

export function mailConfig(e: MailEnvValues): MailConfig {
  return Object.freeze({
    smtpUrl: e.SMTP_URL,
    from: e.MAIL_FROM,
    signupEnabled: e.SIGNUP_ENABLED,
    signupRequiresVerification: e.SIGNUP_REQUIRE_VERIFICATION,
    perIpPerHour: e.MAIL_RATE_LIMIT_IP,
    perAddressPerHour: e.MAIL_RATE_LIMIT_ADDRESS,
  });
}
