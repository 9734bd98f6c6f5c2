import { Agent } from 'node:http';
import { BENCH_RESOURCE } from './bare-provider.ts';
import { cpuSeconds, residentBytes } from './children.ts';
import { callJson } from './http-json.ts';
import { ACTIVE_MARKER, runLoad, TOKEN_MARKER, type TokenRequest, tokenRequest } from './load.ts';
import type { BenchOptions } from './options.ts';
import { percentile, type RoundResult } from './report.ts';
import type { Target } from './targets.ts';

/** What every target is asked for: the same as a service calling the API would send. */
export const REQUESTED_SCOPE = 'orders:read';
const FORM = new URLSearchParams({
  grant_type: 'client_credentials',
  resource: BENCH_RESOURCE,
  scope: REQUESTED_SCOPE,
}).toString();

const RSS_SAMPLE_MS = 100;

/** What a round loads a target with: token requests, or introspection of one of its tokens. */
export type Scenario = 'tokens' | 'introspection';

/** The request a scenario repeats, and what every successful answer contains. */
export async function scenarioRequest(
  target: Target,
  scenario: Scenario,
): Promise<{ req: TokenRequest; marker: Buffer }> {
  if (scenario === 'tokens') {
    return {
      req: tokenRequest(target.tokenEndpoint, target.clientId, target.clientSecret, FORM),
      marker: TOKEN_MARKER,
    };
  }
  // a fresh token each time: one lives 300 s, and a run may last longer
  const first = tokenRequest(
    target.tokenEndpoint,
    target.clientId,
    target.clientSecret,
    new URLSearchParams({ grant_type: 'client_credentials', resource: target.introspectedResource }).toString(),
  );
  const { access_token } = await callJson<{ access_token: string }>('POST', target.tokenEndpoint, {
    headers: { ...first.headers },
    body: first.body.toString(),
  });
  // RFC 7662 §2.1: the token's own client asks about it
  const req = tokenRequest(
    target.introspectionEndpoint,
    target.clientId,
    target.clientSecret,
    new URLSearchParams({ token: access_token, token_type_hint: 'access_token' }).toString(),
  );
  return { req, marker: ACTIVE_MARKER };
}

/**
 * Warm-up (JIT, connection pool, caches) then one measured run against one target, sampling the
 * server's resident memory throughout. A fresh keep-alive pool per run: between rounds the server
 * may have closed idle sockets, and reusing one of those would show up as a spurious error.
 */
export async function measureRound(
  target: Target,
  round: number,
  options: BenchOptions,
  scenario: Scenario = 'tokens',
): Promise<{ result: RoundResult; sampleBody: string | undefined }> {
  const { req, marker } = await scenarioRequest(target, scenario);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  let peak: number | undefined;
  const sample = () => {
    const rss = residentBytes(target.child.pid);
    if (rss !== undefined && (peak === undefined || rss > peak)) peak = rss;
  };
  const sampler = setInterval(sample, RSS_SAMPLE_MS);
  try {
    const warm = await runLoad(agent, req, {
      concurrency: options.concurrency,
      durationMs: options.warmupSeconds * 1e3,
      marker,
    });
    const cpuBefore = process.cpuUsage();
    const serverCpuBefore = cpuSeconds(target.child.pid);
    const run = await runLoad(agent, req, {
      concurrency: options.concurrency,
      durationMs: options.seconds * 1e3,
      marker,
    });
    const cpu = process.cpuUsage(cpuBefore);
    const serverCpuAfter = cpuSeconds(target.child.pid);
    sample();
    const serverCpu =
      serverCpuBefore === undefined || serverCpuAfter === undefined ? undefined : serverCpuAfter - serverCpuBefore;
    return {
      result: {
        round,
        tokensPerSecond: run.ok / (run.elapsedMs / 1e3),
        ok: run.ok,
        // warm-up failures count too: every response must be a token
        errors: warm.errors + run.errors,
        firstError: warm.firstError ?? run.firstError,
        p50Ms: percentile(run.latenciesMs, 50),
        p99Ms: percentile(run.latenciesMs, 99),
        peakRssBytes: peak,
        generatorCpuPercent: ((cpu.user + cpu.system) / 1e3 / run.elapsedMs) * 100,
        serverCpuPercent: serverCpu === undefined ? undefined : (serverCpu * 1e3 * 100) / run.elapsedMs,
        tokensPerCpuSecond: serverCpu ? run.ok / serverCpu : undefined,
      },
      sampleBody: run.sampleBody ?? warm.sampleBody,
    };
  } finally {
    clearInterval(sampler);
    agent.destroy();
  }
}
