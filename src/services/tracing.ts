import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../logger.ts';

/**
 * OpenTelemetry traces without the SDK: spans kept in a bounded buffer and sent in batches as
 * OTLP/HTTP JSON (opentelemetry-proto's JSON encoding: ids in hex, times in nanoseconds as
 * strings). Loaded only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (src/wiring/telemetry.ts), so
 * a server without it loads and runs none of this.
 */

type AttributeValue = string | number | boolean;

export interface SpanContext {
  readonly traceId: string;
  readonly spanId: string;
}

export interface Span extends SpanContext {
  setAttribute(key: string, value: AttributeValue | undefined): void;
  /** marks the span failed; `message` must say nothing secret */
  fail(message?: string): void;
  /** a name known only once the work is done (the route a request matched) */
  rename(name: string): void;
  end(): void;
}

export interface Tracer {
  /** a span, child of `parent` or of the span this code runs in */
  start(name: string, options: { kind: 'server' | 'client' | 'internal'; parent?: SpanContext | undefined }): Span;
  /** runs `fn` with `span` as the current span (its children's parent) */
  within<T>(span: Span, fn: () => T): T;
  /** sends what is buffered */
  flush(): Promise<void>;
  /** stops the timer and sends what is left */
  close(): Promise<void>;
}

/** W3C Trace Context: `00-<trace id>-<parent id>-<flags>`; an all-zero id is invalid. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

export function parseTraceparent(header: string | undefined): SpanContext | undefined {
  const match = TRACEPARENT.exec(header?.trim() ?? '');
  if (!match?.[1] || !match[2] || /^0+$/.test(match[1]) || /^0+$/.test(match[2])) return undefined;
  return { traceId: match[1], spanId: match[2] };
}

const KIND = { internal: 1, server: 2, client: 3 } as const;
const nanos = (ms: number) => (BigInt(Math.round(ms * 1000)) * 1000n).toString();

interface Finished {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  status: { code: number; message?: string };
}

const attribute = (key: string, value: AttributeValue) => ({
  key,
  value:
    typeof value === 'string'
      ? { stringValue: value }
      : typeof value === 'boolean'
        ? { boolValue: value }
        : Number.isInteger(value)
          ? { intValue: String(value) }
          : { doubleValue: value },
});

export function createTracer(deps: {
  serviceName: string;
  version: string;
  /** POSTs one OTLP JSON body; rejects on failure */
  send(body: string): Promise<void>;
  log: Logger;
  /** how often the buffer is sent (ms) */
  intervalMs?: number;
  /** past this many buffered spans, new ones are dropped (a collector that is down costs spans, not memory) */
  maxBuffer?: number;
}): Tracer {
  const intervalMs = deps.intervalMs ?? 1000;
  const maxBuffer = deps.maxBuffer ?? 4096;
  const current = new AsyncLocalStorage<Span>();
  const buffer: Finished[] = [];
  let dropped = 0;
  let failing = false;
  let sending: Promise<void> | undefined;
  const resource = {
    attributes: [attribute('service.name', deps.serviceName), attribute('service.version', deps.version)],
  };

  const send = async (): Promise<void> => {
    if (sending) await sending;
    if (buffer.length === 0) return;
    const spans = buffer.splice(0, 1000);
    const body = JSON.stringify({
      resourceSpans: [{ resource, scopeSpans: [{ scope: { name: 'idp', version: deps.version }, spans }] }],
    });
    sending = deps
      .send(body)
      .then(
        () => {
          if (failing) deps.log.info('traces reach the collector again');
          failing = false;
        },
        (err: unknown) => {
          // once per outage, not once per batch
          if (!failing) deps.log.warn({ err }, 'sending traces failed; spans are dropped until the collector answers');
          failing = true;
        },
      )
      .finally(() => {
        sending = undefined;
      });
    await sending;
    if (buffer.length > 0) await send();
  };

  const timer = setInterval(() => void send(), intervalMs);
  timer.unref();

  return {
    start(name, options) {
      const parent = options.parent ?? current.getStore();
      const traceId = parent?.traceId ?? randomBytes(16).toString('hex');
      const spanId = randomBytes(8).toString('hex');
      const started = performance.timeOrigin + performance.now();
      const attributes: Finished['attributes'] = [];
      let status: Finished['status'] = { code: 0 };
      let spanName = name;
      let ended = false;
      return {
        traceId,
        spanId,
        setAttribute(key, value) {
          if (value !== undefined) attributes.push(attribute(key, value));
        },
        rename(next) {
          spanName = next;
        },
        fail(message) {
          status = message === undefined ? { code: 2 } : { code: 2, message };
        },
        end() {
          if (ended) return;
          ended = true;
          if (buffer.length >= maxBuffer) {
            dropped += 1;
            if (dropped === 1 || dropped % 10_000 === 0) deps.log.warn({ dropped }, 'trace buffer full: spans dropped');
            return;
          }
          buffer.push({
            traceId,
            spanId,
            ...(parent ? { parentSpanId: parent.spanId } : {}),
            name: spanName,
            kind: KIND[options.kind],
            startTimeUnixNano: nanos(started),
            endTimeUnixNano: nanos(performance.timeOrigin + performance.now()),
            attributes,
            status,
          });
        },
      };
    },
    within: (span, fn) => current.run(span, fn),
    flush: send,
    async close() {
      clearInterval(timer);
      await send();
    },
  };
}
