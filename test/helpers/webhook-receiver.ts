import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

/** What the receiver does with a request: answer with a status, or never answer (a timeout). */
export type HookAnswer = number | 'hang';

/**
 * A webhook receiver on 127.0.0.1 (node:http): records every request, and answers each path
 * with the statuses queued for it (`plan`), then 204.
 */
export interface WebhookReceiver {
  readonly url: string;
  readonly port: number;
  readonly received: ReceivedHook[];
  plan(path: string, answers: HookAnswer[]): void;
  /** the requests to `path` */
  to(path: string): ReceivedHook[];
  /** resolves once `count` requests reached `path` */
  waitFor(path: string, count?: number, timeoutMs?: number): Promise<ReceivedHook[]>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(port = 0): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const plans = new Map<string, HookAnswer[]>();
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      received.push({ path, headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      for (const wake of waiters) wake();
      const answer = plans.get(path)?.shift() ?? 204;
      if (answer === 'hang') return; // the sender's timeout ends it
      res.statusCode = answer;
      res.end(answer >= 400 ? 'no' : '');
    });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const actual = (server.address() as AddressInfo).port;
  const to = (path: string) => received.filter((r) => r.path === path);
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    received,
    plan: (path, answers) => plans.set(path, [...answers]),
    to,
    async waitFor(path, count = 1, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (to(path).length < count) {
        if (Date.now() > deadline) throw new Error(`${path}: ${to(path).length} of ${count} requests arrived`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, 200);
          waiters.add(wake);
        });
      }
      return to(path);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
