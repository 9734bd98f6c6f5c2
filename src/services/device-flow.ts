import { createHash } from 'node:crypto';
import type { RateLimitStore, Verdict } from './rate-limits.ts';
import type { DeviceFlowEvent, SecurityEventInput } from './security-events.ts';

/**
 * RFC 8628 §3.5: a client polls no faster than `interval` seconds; faster gets `slow_down`.
 * Five seconds is the RFC's default, and what the device authorization response announces.
 */
export const DEVICE_POLL_INTERVAL_SECONDS = 5;

/**
 * RFC 8628 §5.1: a user code has little entropy (8 characters of a 20-letter alphabet, about
 * 34.6 bits), so guessing is held back twice: each address may get a few codes wrong before it
 * must wait, and all addresses together may get only so many wrong per window (a spread-out
 * guesser meets this one). With 10,000 live codes the second allows under one chance in
 * 2,500 of a hit per day.
 */
const FAILURES_PER_ADDRESS = 10;
const ADDRESS_WINDOW_SECONDS = 600;
const ADDRESS_BLOCK_SECONDS = 900;
const FAILURES_EVERYWHERE = 500;
const EVERYWHERE_WINDOW_SECONDS = 3600;

export interface DeviceFlowGuard {
  /** before a user code is looked up: whether this address (and everyone) may still try */
  mayEnter(ip: string): Promise<Verdict>;
  /** a user code that was wrong, expired or already used */
  failedEntry(ip: string, userAgent: string | undefined): Promise<void>;
  /** a poll of the token endpoint with this device code: refused when sooner than the interval */
  poll(deviceCode: string): Promise<Verdict>;
}

const digest = (value: string) => createHash('sha256').update(value).digest('base64url');

export function createDeviceFlowGuard(deps: {
  store: RateLimitStore;
  events: { record(event: SecurityEventInput): void };
}): DeviceFlowGuard {
  const { store, events } = deps;
  const perAddress = store.limiter({
    name: 'device_code_entry',
    points: FAILURES_PER_ADDRESS,
    windowSeconds: ADDRESS_WINDOW_SECONDS,
    blockSeconds: ADDRESS_BLOCK_SECONDS,
  });
  const everywhere = store.limiter({
    name: 'device_code_entry_all',
    points: FAILURES_EVERYWHERE,
    windowSeconds: EVERYWHERE_WINDOW_SECONDS,
  });
  // one poll per interval: the second within the window is over the limit
  const polls = store.limiter({ name: 'device_poll', points: 1, windowSeconds: DEVICE_POLL_INTERVAL_SECONDS });

  return {
    async mayEnter(ip) {
      // peek is not allowed once the failures reach the points (or the address is blocked)
      const [address, all] = await Promise.all([perAddress.peek(ip), everywhere.peek('all')]);
      if (!address.allowed) return address;
      return all.allowed ? address : all;
    },
    async failedEntry(ip, userAgent) {
      const [address] = await Promise.all([perAddress.hit(ip), everywhere.hit('all')]);
      events.record({
        type: 'device.code_rejected' satisfies DeviceFlowEvent,
        outcome: 'failure',
        ip,
        userAgent,
        details: { failures: address.count },
      });
    },
    poll: (deviceCode) => polls.hit(digest(deviceCode)),
  };
}
