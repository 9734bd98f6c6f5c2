import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A message the in-process SMTP server accepted, parsed. */
export interface ReceivedMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  /** when the server accepted it (epoch ms) */
  at: number;
}

export interface TestSmtp {
  /** SMTP_URL for the app */
  readonly url: string;
  readonly received: ReceivedMail[];
  /** the first message to `to` (after `since` messages) matching `subject`, waiting for it */
  waitFor(to: string, subject?: RegExp, options?: { timeoutMs?: number; since?: number }): Promise<ReceivedMail>;
  /** recipients refused for good (550) */
  refuse(address: string): void;
  /** stops listening (the port stays ours to start again on) */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A real SMTP server in this process (smtp-server), messages parsed with mailparser; plain SMTP on loopback. */
export async function startSmtp(): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  const refused = new Set<string>();
  const waiters = new Set<() => void>();
  let port = 0;
  let server: SMTPServer | undefined;

  const listen = async () => {
    const s = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      // no reverse DNS of 127.0.0.1: it would add its own delay to every measured delivery
      disableReverseLookup: true,
      logger: false,
      onRcptTo(address, _session, callback) {
        if (refused.has(address.address.toLowerCase())) {
          const err = Object.assign(new Error('mailbox unavailable'), { responseCode: 550 });
          return callback(err);
        }
        callback();
      },
      onData(stream, _session, callback) {
        simpleParser(stream)
          .then((mail: ParsedMail) => {
            const to = Array.isArray(mail.to) ? mail.to[0]?.text : mail.to?.text;
            received.push({
              to: (to ?? '').toLowerCase(),
              subject: mail.subject ?? '',
              text: mail.text ?? '',
              html: typeof mail.html === 'string' ? mail.html : '',
              messageId: mail.messageId ?? '',
              at: Date.now(),
            });
            for (const wake of waiters) wake();
            callback();
          })
          .catch((err: Error) => callback(err));
      },
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    s.on('error', () => {});
    port = (s.server.address() as AddressInfo).port;
    server = s;
  };
  await listen();

  const stop = async () => {
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    async waitFor(to, subject = /./, { timeoutMs = 10_000, since = 0 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = received.slice(since).find((m) => m.to.includes(to.toLowerCase()) && subject.test(m.subject));
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no mail to ${to} matching ${subject} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, Math.min(left, 250));
          waiters.add(wake);
        });
      }
    },
    refuse: (address) => refused.add(address.toLowerCase()),
    stop,
    start: listen,
    close: stop,
  };
}

/** The first link in a mail's text that starts with `prefix`. */
export function linkIn(mail: ReceivedMail, prefix: string): string {
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const found = new RegExp(`${escaped}[^\\s<>"]*`).exec(mail.text)?.[0];
  if (!found) throw new Error(`no link ${prefix} in: ${mail.text}`);
  return found;
}
