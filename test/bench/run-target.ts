import { Agent } from 'node:http';
import { BENCH_RESOURCE } from './bare-provider.ts';
import { cpuSeconds, residentBytes } from './children.ts';
import { runLoad, tokenRequest } from './load.ts';
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

/**
 * Warm-up (JIT, connection pool, caches) then one measured run against one target, sampling the
 * server's resident memory throughout. A fresh keep-alive pool per run: between rounds the server
 * may have closed idle sockets, and reusing one of those would show up as a spurious error.
 */
export async function measureRound(
  target: Target,
  round: number,
  options: BenchOptions,
): Promise<{ result: RoundResult; sampleBody: string | undefined }> {
  const req = tokenRequest(target.tokenEndpoint, target.clientId, target.clientSecret, FORM);
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
    });
    const cpuBefore = process.cpuUsage();
    const serverCpuBefore = cpuSeconds(target.child.pid);
    const run = await runLoad(agent, req, { concurrency: options.concurrency, durationMs: options.seconds * 1e3 });
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
