import type { Logger } from '../logger.ts';
import type { Metrics } from './metrics.ts';
import type { SecurityEventService } from './security-events.ts';

/** Fields of a log line that name who and where; the rest of the line goes into `details`. */
const ROUTED = new Set(['event', 'userId', 'clientId', 'ip', 'userAgent', 'by']);

/**
 * A logger whose lines that carry an `event` (`passkey.added`, `signin.failed`, ...) are also
 * recorded in the security event log, and whose sign-ins move `idp_signins_total`. Code that
 * already logs its security events this way (the passkey ceremonies) reaches the event log
 * without knowing it exists. The event log drops detail keys that look like secrets.
 */
export function auditingLogger(log: Logger, events: SecurityEventService, metrics: Metrics): Logger {
  const record = (fields: Record<string, unknown>) => {
    const type = fields.event;
    if (typeof type !== 'string') return;
    const failed = type.endsWith('.failed') || type.endsWith('.counter_regression');
    const text = (key: string) => (typeof fields[key] === 'string' ? (fields[key] as string) : undefined);
    // the event log refuses detail keys that look like secrets (`pass`, `key`): a passkey's id
    // is not one, so it is stored under a name that passes
    const details = Object.fromEntries(
      Object.entries(fields)
        .filter(([key]) => !ROUTED.has(key))
        .map(([key, value]) => [key === 'passkeyId' ? 'authenticator_id' : key, value]),
    );
    events.record({
      type,
      outcome: failed ? 'failure' : 'success',
      subject: text('userId'),
      actor: text('by') === 'admin' ? undefined : text('userId'),
      clientId: text('clientId'),
      ip: text('ip'),
      userAgent: text('userAgent'),
      details,
    });
    if (type === 'signin.succeeded' || type === 'signin.failed') {
      metrics.signins.inc({ outcome: failed ? 'failure' : 'success', method: text('method') ?? 'password' });
    }
  };
  const wrap =
    (level: 'info' | 'warn') =>
    (fields: unknown, ...rest: unknown[]) => {
      if (typeof fields === 'object' && fields !== null) record(fields as Record<string, unknown>);
      (log[level] as (...args: unknown[]) => void)(fields, ...rest);
    };
  return new Proxy(log, {
    get(target, property, receiver) {
      if (property === 'info' || property === 'warn') return wrap(property);
      return Reflect.get(target, property, receiver);
    },
  });
}
