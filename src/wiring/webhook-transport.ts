import type { LookupAddress } from 'node:dns';
import { request } from 'node:http';
import { isIP, type LookupFunction } from 'node:net';
import { createOutboundFetch, isSpecialUseAddress, type OutboundFetchOptions } from '../oidc/outbound-fetch.ts';
import { PermanentFailure } from '../services/outbox.ts';
import type { WebhookSender } from '../services/webhooks.ts';

const bare = (hostname: string) => hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
/** RFC 6761 §6.3: localhost names are loopback, whatever a DNS server would say */
const isLocalhostName = (host: string) => {
  const name = host.replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
};
const isLoopbackAddress = (host: string) =>
  (isIP(host) === 4 && host.startsWith('127.')) || (isIP(host) === 6 && host === '::1');

const LOOPBACK: LookupAddress[] = [
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
];
/** a localhost name connects to the loopback addresses, never to what a resolver says */
const loopbackLookup: LookupFunction = (_hostname, options, callback) => {
  const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
  const addresses = LOOPBACK.filter((a) => wanted === 0 || a.family === wanted);
  if ((options as { all?: boolean }).all) {
    return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
  }
  const first = addresses[0] as LookupAddress;
  callback(null, first.address, first.family);
};

const timedOut = (err: unknown) =>
  err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError' || err.message.includes('abort'));

/**
 * How webhook deliveries leave: https to public addresses only, through the same outbound fetch
 * as oidc-provider's (the address checked after DNS resolution and connected to as checked,
 * no redirects followed, the answer's body never read); http only to localhost and loopback
 * addresses, for a receiver on this machine. Each attempt has `timeoutMs` to be answered.
 */
export function createWebhookSender(options: { timeoutMs: number; fetch?: OutboundFetchOptions }): WebhookSender {
  // only the answer's status counts: its body is never read (cancelled at once), whatever its
  // announced length, so a receiver's large answer neither fills memory nor fails a delivery
  const outbound = createOutboundFetch({ maxResponseBytes: Number.MAX_SAFE_INTEGER, ...options.fetch });
  const refused = options.fetch?.refused ?? isSpecialUseAddress;
  const seconds = `${options.timeoutMs / 1000} s`;

  const postLoopback = (url: URL, headers: Record<string, string>, body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request(
        url,
        { method: 'POST', headers, lookup: loopbackLookup, signal: AbortSignal.timeout(options.timeoutMs) },
        (res) => {
          // the status is the answer: the body is neither read nor kept
          resolve(res.statusCode ?? 0);
          res.destroy();
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  return {
    problem(url) {
      const host = bare(url.hostname);
      if (url.protocol === 'http:') {
        return isLocalhostName(host) || isLoopbackAddress(host)
          ? undefined
          : 'http is allowed only to localhost and loopback addresses; use https';
      }
      if (isLocalhostName(host) || (isIP(host) !== 0 && refused(host))) {
        return 'an https URL must reach a public address (http to localhost or a loopback address is allowed)';
      }
      return undefined;
    },

    async post(raw, headers, body) {
      const url = new URL(raw);
      const problem = this.problem(url);
      if (problem) throw new PermanentFailure(problem);
      const all = { ...headers, 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'idp-webhooks/1' };
      try {
        if (url.protocol === 'http:') return await postLoopback(url, all, body);
        const res = await outbound(url, {
          method: 'POST',
          headers: all,
          body,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        await res.body?.cancel().catch(() => {});
        return res.status;
      } catch (err) {
        // a name that resolves to an internal address: trying again cannot make it a public one
        if (err instanceof Error && err.name === 'RefusedTarget' && /not a public|non-public/.test(err.message)) {
          throw new PermanentFailure(err.message);
        }
        if (timedOut(err)) throw new Error(`no answer within ${seconds}`);
        throw new Error(`no answer: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
  };
}
