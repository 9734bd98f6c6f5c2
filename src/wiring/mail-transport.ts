import type { Config } from '../config/index.ts';
import type { Logger } from '../logger.ts';
import type { MailTransport } from '../services/mail.ts';
import { PermanentFailure } from '../services/outbox.ts';

/** A send that takes longer than this fails and is retried (well inside the outbox lease). */
const SMTP_TIMEOUT_MS = 30_000;

const isLoopback = (host: string) =>
  host === 'localhost' || host === '127.0.0.1' || host === '[::1]' || host === '::1' || host.endsWith('.localhost');

/**
 * The transport mails leave by: SMTP when SMTP_URL is set (nodemailer; `smtps://` is TLS from
 * the first byte, `smtp://` upgrades with STARTTLS when the server offers it, and in production
 * insists on it unless the server is on this machine or the URL says `?requireTLS=false`);
 * without SMTP_URL, the log in development and tests; none in production, where what needs mail
 * is refused and start-up says so.
 */
export async function createMailTransport(
  config: Config,
  issuer: string,
  log: Logger,
): Promise<MailTransport | undefined> {
  const { smtpUrl } = config.mail;
  if (smtpUrl === undefined) {
    if (config.env === 'production') {
      log.warn('no SMTP_URL: password reset, sign-up and email verification are off until a mail transport is set');
      return undefined;
    }
    log.info('no SMTP_URL: mails are written to the log (development only)');
    return {
      kind: 'log',
      async send(message) {
        // development only: the links in it are usable, which is the point here
        log.info({ to: message.to, subject: message.subject, text: message.text }, 'mail (not sent: no SMTP_URL)');
      },
      close() {},
    };
  }
  const url = new URL(smtpUrl);
  const insistOnTls =
    config.env === 'production' &&
    url.protocol === 'smtp:' &&
    !isLoopback(url.hostname) &&
    url.searchParams.get('requireTLS') === null;
  // loaded only when mail leaves by SMTP
  const { default: nodemailer } = await import('nodemailer');
  const transporter = nodemailer.createTransport(smtpUrl, {
    // EHLO with our own name: no lookup of the machine's name before each message
    name: new URL(issuer).hostname,
    connectionTimeout: SMTP_TIMEOUT_MS,
    greetingTimeout: SMTP_TIMEOUT_MS,
    socketTimeout: SMTP_TIMEOUT_MS,
    ...(insistOnTls ? { requireTLS: true } : {}),
    // nodemailer's own logger stays off: it would print message bodies, links included
    logger: false,
    debug: false,
  } as object);
  log.info(
    { host: url.hostname, port: url.port || undefined, tls: url.protocol === 'smtps:' ? 'implicit' : 'starttls' },
    'mail transport: SMTP',
  );
  return {
    kind: 'smtp',
    async send(message) {
      try {
        await transporter.sendMail({
          from: config.mail.from ?? `no-reply@${new URL(issuer).hostname}`,
          to: message.to,
          subject: message.subject,
          text: message.text,
          html: message.html,
          messageId: message.messageId,
        });
      } catch (err) {
        const e = err as { code?: string; responseCode?: number; message?: string };
        // the server refused the recipient for good (5xx to RCPT TO): no retry will change it
        if (e.code === 'EENVELOPE' && typeof e.responseCode === 'number' && e.responseCode >= 500) {
          throw new PermanentFailure(`recipient refused (${e.responseCode})`);
        }
        // the reason without the server's full reply, which can quote the message
        throw new Error(`SMTP: ${e.code ?? 'error'}${e.responseCode ? ` ${e.responseCode}` : ''}`);
      }
    },
    close: () => transporter.close(),
  };
}
