import { Eta } from 'eta';
import type { Logger } from '../logger.ts';
import { type Catalogs, matchTag, translate, translateHtml } from './locales.ts';
import type { Outbox } from './outbox.ts';
import { seal, unseal } from './secrets.ts';

/** A rendered message, as a transport sends it. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Where mails leave: SMTP, or (development without SMTP_URL) the log. */
export interface MailTransport {
  readonly kind: 'smtp' | 'log';
  /**
   * Hands the message over; resolves once the server accepted it. `messageId` is the same on every
   * attempt, so a receiving system that sees a message twice can tell.
   * @throws PermanentFailure when trying again cannot help; anything else is retried
   */
  send(message: MailMessage & { messageId: string }): Promise<void>;
  close(): void;
}

/** The mails this server sends; each has `views/mail/<name>.text.eta` and `.html.eta`. */
export type MailTemplate =
  | 'password-reset'
  | 'password-changed'
  | 'verify-email'
  | 'email-change-notice'
  | 'signup-exists'
  | 'recovery-code-used';

export interface Mailer {
  /** false in production without SMTP_URL: what needs mail is refused */
  readonly available: boolean;
  /**
   * Renders the mail in `locale` (the recipient's language, a catalog tag; English when unknown)
   * and puts it in the outbox (durable from here); the outbox worker sends it.
   * @returns the outbox row id
   */
  send(
    template: MailTemplate,
    to: string,
    vars: Record<string, unknown>,
    locale?: string | null | undefined,
  ): Promise<string>;
}

const OUTBOX_KIND = 'mail';
const sealContext = (to: string) => `outbox-mail:${to}`;

interface MailPayload {
  to: string;
  template: MailTemplate;
  /** the rendered message, sealed with SECRETS_KEY: it carries links with tokens */
  sealed: string;
}

/**
 * Mail through the outbox. Templates are rendered when a mail is asked for (text and HTML, the
 * product name and every link from ISSUER); the rendered message is sealed (AES-256-GCM) in the
 * outbox row, since its links carry tokens that the database keeps only hashed elsewhere, and
 * the row keeps only the recipient and the template once sent.
 */
export function createMailer(deps: {
  outbox: Outbox;
  /** undefined: no transport (production without SMTP_URL) */
  transport: MailTransport | undefined;
  issuer: string;
  productName: string;
  viewsDir: string;
  /** the message catalogs of views/locales: subjects and texts (`mail.<template>.*`) */
  catalogs: Catalogs;
  sealKey: Buffer;
  log: Logger;
}): Mailer {
  const { outbox, transport, issuer, productName, sealKey } = deps;
  const html = new Eta({ views: deps.viewsDir, autoEscape: true, cache: true, defaultExtension: '.eta' });
  const text = new Eta({ views: deps.viewsDir, autoEscape: false, cache: true, defaultExtension: '.eta' });
  const host = new URL(issuer).hostname;

  if (transport) {
    outbox.register(OUTBOX_KIND, {
      async handle(payload, item) {
        const p = payload as MailPayload;
        const message = JSON.parse(unseal(p.sealed, sealKey, sealContext(p.to))) as MailMessage;
        await transport.send({ ...message, messageId: `<${item.id}@${host}>` });
        deps.log.info({ outboxId: item.id, template: p.template }, 'mail handed to the transport');
      },
      summary: (payload) => {
        const p = payload as Partial<MailPayload>;
        return { to: p.to, template: p.template };
      },
    });
  }

  return {
    available: transport !== undefined,
    async send(template, to, vars, locale) {
      if (!transport) throw new Error('no mail transport');
      const lang = (locale && matchTag(locale, deps.catalogs.tags)) || deps.catalogs.tags[0] || 'en';
      const catalog = deps.catalogs.catalog(lang);
      const t = (key: string, more: Record<string, string | number> = {}) =>
        translate(catalog, key, { productName, issuer, ...more });
      // HTML mails: the values of placeholders stand out in <strong>, everything escaped
      const rich = (key: string, more: Record<string, string | number> = {}) =>
        translateHtml(catalog, key, more, { productName, issuer });
      const data = { ...vars, productName, issuer, lang, t, rich };
      const message: MailMessage = {
        to,
        subject: t(`mail.${template}.subject`),
        text: text.render(`mail/${template}.text.eta`, data),
        html: html.render(`mail/${template}.html.eta`, data),
      };
      const payload: MailPayload = { to, template, sealed: seal(JSON.stringify(message), sealKey, sealContext(to)) };
      return outbox.enqueue(OUTBOX_KIND, payload);
    },
  };
}
