import type { Middleware } from 'koa';
import type { SecurityEventService } from '../../services/security-events.ts';

/**
 * Holds each answer until the security events its request recorded outside the batched class are
 * stored: once a client has seen "done" (an admin change, a sign-in, a lockout), a crash of the
 * process no longer loses the event that says so.
 */
export const durableEvents =
  (events: Pick<SecurityEventService, 'durably'>): Middleware =>
  (_ctx, next) =>
    events.durably(next);
