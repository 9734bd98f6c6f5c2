import { z } from 'zod';

/**
 * OpenTelemetry traces, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the variable of the
 * OpenTelemetry specification). Spread into the environment schema in `index.ts`; documented in
 * the README's configuration table.
 */

const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

export const TelemetryEnv = {
  /** the collector's OTLP/HTTP base URL; spans go to `<endpoint>/v1/traces` */
  OTEL_EXPORTER_OTLP_ENDPOINT: optional.pipe(
    z
      .string()
      .refine((v) => {
        const url = URL.parse(v);
        return url !== null && (url.protocol === 'http:' || url.protocol === 'https:') && !url.username;
      }, 'must be an http or https URL without credentials (the OTLP/HTTP endpoint of a collector)')
      .optional(),
  ),
  /** `service.name` of the spans */
  OTEL_SERVICE_NAME: optional.pipe(z.string().max(128).optional()),
};

type TelemetryEnvValues = z.infer<z.ZodObject<typeof TelemetryEnv>>;

export interface TelemetryConfig {
  /** where spans are POSTed (OTLP/HTTP, JSON); undefined: no tracing at all */
  readonly tracesUrl: string | undefined;
  readonly serviceName: string;
}

export function telemetryConfig(e: TelemetryEnvValues): TelemetryConfig {
  const base = e.OTEL_EXPORTER_OTLP_ENDPOINT;
  return Object.freeze({
    // OTLP exporter specification: with the generic variable, signals go to <endpoint>/v1/<signal>
    tracesUrl: base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/traces`,
    serviceName: e.OTEL_SERVICE_NAME ?? 'idp',
  });
}
