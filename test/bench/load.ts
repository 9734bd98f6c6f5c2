import { type Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { basicAuth } from './http-json.ts';

/** One token request, prepared once so the loop does no per-request formatting. */
export interface TokenRequest {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface LoadResult {
  /** 200 responses carrying an access token */
  readonly ok: number;
  readonly errors: number;
  /** the first failure, e.g. `429 {"error":"..."}`, to make a failing row say why */
  readonly firstError: string | undefined;
  readonly elapsedMs: number;
  /** per successful request, in completion order */
  readonly latenciesMs: number[];
  /** the first token response body, kept for verification */
  readonly sampleBody: string | undefined;
}

const REQUEST_TIMEOUT_MS = 10_000;
/** What a successful answer contains: a token response by default, `"active":true` for introspection. */
export const TOKEN_MARKER = Buffer.from('"access_token":"');
export const ACTIVE_MARKER = Buffer.from('"active":true');

/** `application/x-www-form-urlencoded` POST with HTTP Basic client authentication. */
export function tokenRequest(
  tokenEndpoint: string,
  clientId: string,
  clientSecret: string,
  form: string,
): TokenRequest {
  const url = new URL(tokenEndpoint);
  const body = Buffer.from(form);
  return {
    host: url.hostname,
    port: Number(url.port || 80),
    path: url.pathname,
    headers: {
      authorization: basicAuth(clientId, clientSecret),
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(body.length),
      accept: 'application/json',
    },
    body,
  };
}

type Outcome = { ok: true; body: Buffer } | { ok: false; error: string };

function send(agent: Agent, req: TokenRequest, marker: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const r = request(
      { agent, host: req.host, port: req.port, path: req.path, method: 'POST', headers: req.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => resolve({ ok: false, error: error.message }));
        res.on('end', () => {
          const body = chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks);
          // A byte search, not JSON.parse: the generator shares the machine's cores with the server,
          // so it must stay cheap; one body per run is parsed and verified in full.
          if (res.statusCode === 200 && body.includes(marker)) resolve({ ok: true, body });
          else resolve({ ok: false, error: `${res.statusCode} ${body.toString('utf8', 0, 200)}` });
        });
      },
    );
    r.setTimeout(REQUEST_TIMEOUT_MS, () => r.destroy(new Error(`no response within ${REQUEST_TIMEOUT_MS} ms`)));
    r.on('error', (error) => resolve({ ok: false, error: error.message }));
    r.end(req.body);
  });
}

/**
 * Closed-loop load: `concurrency` workers each send a request, wait for its answer, and send the
 * next, until `durationMs` has passed or `count` requests were sent; requests in flight then complete and are counted, and the
 * rate is computed over the time until the last one returned.
 */
export async function runLoad(
  agent: Agent,
  req: TokenRequest,
  options: { concurrency: number; durationMs?: number; count?: number; marker?: Buffer },
): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let sampleBody: string | undefined;
  const start = performance.now();
  const deadline = start + (options.durationMs ?? Number.POSITIVE_INFINITY);
  const marker = options.marker ?? TOKEN_MARKER;
  // a duration, or a number of requests (the per-request costs are counted over a fixed number)
  let left = options.count ?? Number.POSITIVE_INFINITY;

  const worker = async () => {
    while (performance.now() < deadline && left-- > 0) {
      const t0 = performance.now();
      const outcome = await send(agent, req, marker);
      if (outcome.ok) {
        latenciesMs.push(performance.now() - t0);
        sampleBody ??= outcome.body.toString('utf8');
      } else {
        errors++;
        firstError ??= outcome.error;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return {
    ok: latenciesMs.length,
    errors,
    firstError,
    elapsedMs: performance.now() - start,
    latenciesMs,
    sampleBody,
  };
}
