import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { measureArgon2Ceiling } from './argon2-ceiling.ts';
import { BENCH_RESOURCE } from './bare-provider.ts';
import { cpuSeconds, residentBytes } from './children.ts';
import { type IdpTarget, startIdp } from './idp-target.ts';
import { runLoad, tokenRequest } from './load.ts';
import { machineBusyPercent, machineTicks } from './machine-cpu.ts';
import type { BenchOptions } from './options.ts';
import { median, percentile } from './report.ts';
import { REQUESTED_SCOPE } from './run-target.ts';
import { measureSigninCosts, type SigninCosts } from './signin-costs.ts';
import type { BenchUser, SigninClient } from './signin-flow.ts';
import { runSignins } from './signin-load.ts';
import { type SigninRound, type SigninSummary, summarizeSignin } from './signin-report.ts';
import { setUpSignin } from './signin-setup.ts';
import type { Target } from './targets.ts';
import { verifyIdToken } from './verify-id-token.ts';

/**
 * The product's limits the bench must not trip: every browser here is 127.0.0.1, and each account
 * signs in many times a minute. Their maximum rather than 0 (off), so the limiters stay on the
 * measured path, as in production. Lockout and the progressive delay count failures only
 * (src/services/brute-force.ts), and every flow here succeeds, so they keep their defaults.
 */
const SIGNIN_ENV: Readonly<Record<string, string>> = {
  RATE_LIMIT_SIGNIN_IP: '1000000',
  RATE_LIMIT_SIGNIN_ACCOUNT: '1000000',
  // creating many users is a burst of admin calls from one address
  RATE_LIMIT_ADMIN: '1000000',
};
const TOKEN_FORM = new URLSearchParams({
  grant_type: 'client_credentials',
  resource: BENCH_RESOURCE,
  scope: REQUESTED_SCOPE,
}).toString();
const RSS_SAMPLE_MS = 100;
const ARGON2_WARMUP_SECONDS = 1;

export interface SigninReport {
  readonly rounds: SigninRound[];
  readonly summary: SigninSummary;
  readonly verified: string;
  /** false when a flow or a token request failed, or the ID token did not verify */
  readonly ok: boolean;
}

type Log = (message: string) => void;

/**
 * Password sign-ins per second on idp-pg, against the machine's argon2 ceiling, with a
 * client-credentials load beside them (its p99 is the figure: sign-ins must not stall tokens).
 * A server of its own, started as `npm start` runs it in development (NODE_ENV unset), so
 * passwords are hashed with the production parameters, unlike NODE_ENV=test.
 */
export async function benchSignin(
  options: BenchOptions,
  track: (target: Target) => void,
  log: Log,
): Promise<SigninReport> {
  const o = options.signin;
  if (options.idpEnv.NODE_ENV === 'test') {
    throw new Error('BENCH_IDP_ENV sets NODE_ENV=test: argon2 would run with test parameters, not the real ones');
  }
  log('starting idp-pg for sign-ins');
  const target = await startIdp('idp-pg-signin', 'pg', { ...SIGNIN_ENV, ...options.idpEnv });
  track(target);
  const { client, users } = await setUpSignin(target, o.users);
  let turn = 0;
  const nextUser = (): BenchUser => users[turn++ % users.length] as BenchUser;
  log(`created ${users.length} users and client ${client.clientId}`);

  await sleep(1_000);
  const idleRssBytes = residentBytes(target.child.pid);
  const rounds: SigninRound[] = [];
  const argon2CpuMs: number[] = [];
  let ok = true;
  let verified = 'FAILED: no complete sign-in';
  for (let round = 1; round <= o.rounds; round++) {
    // the ceiling first, with the server idle: nothing else competes for the cores
    const ceiling = await measureArgon2Ceiling({
      seconds: o.argon2Seconds,
      concurrency: o.argon2Concurrency,
      warmupSeconds: ARGON2_WARMUP_SECONDS,
    });
    argon2CpuMs.push(ceiling.cpuMsPerVerify);
    const { result, sample } = await measureMixed(target, client, nextUser, options, round, ceiling.verifiesPerSecond);
    rounds.push(result);
    log(
      `sign-in round ${round}: argon2 ${result.argon2PerSecond.toFixed(1)} verifies/s, ${result.signinsPerSecond.toFixed(1)} sign-ins/s, ` +
        `flow p99 ${result.flowP99Ms.toFixed(0)} ms, tokens ${result.tokensPerSecond?.toFixed(0) ?? '-'}/s p99 ${result.tokenP99Ms?.toFixed(1) ?? '-'} ms, ` +
        `errors ${result.signinErrors}+${result.tokenErrors}, CPU server ${result.serverCpuPercent?.toFixed(0) ?? '-'}% / generator ${result.generatorCpuPercent.toFixed(0)}% / machine ${result.machineCpuPercent?.toFixed(0) ?? '-'}% busy`,
    );
    if (result.signinErrors > 0) {
      ok = false;
      log(`sign-ins FAILED ${result.signinErrors} flows; first: ${result.firstSigninError}`);
    }
    if (result.tokenErrors > 0) {
      ok = false;
      log(`tokens during sign-ins FAILED ${result.tokenErrors} requests; first: ${result.firstTokenError}`);
    }
    if (round === 1 && sample) {
      try {
        verified = await verifyIdToken({
          ...sample,
          jwksUrl: target.jwksUrl,
          issuer: target.issuer,
          clientId: client.clientId,
        });
      } catch (error) {
        verified = `FAILED: ${(error as Error).message}`;
      }
    }
  }
  if (verified.startsWith('FAILED')) {
    ok = false;
    log(`sign-in ID token verification ${verified}`);
  }
  let costs: SigninCosts | undefined;
  if (o.costFlows > 0) {
    log(`counting what ${o.costFlows} sign-ins cost, alone`);
    try {
      costs = await measureSigninCosts(target, client, nextUser, {
        flows: o.costFlows,
        redisUrl: options.idpEnv.REDIS_URL,
        argon2CpuMsPerVerify: argon2CpuMs.length > 0 ? median(argon2CpuMs) : undefined,
      });
    } catch (error) {
      ok = false;
      log(`sign-in costs FAILED: ${(error as Error).message}`);
    }
  }
  return { rounds, summary: summarizeSignin(rounds, idleRssBytes, costs), verified, ok };
}

/** Warm-up, then the measured run: sign-ins and tokens at once, the server's RSS sampled throughout. */
async function measureMixed(
  target: IdpTarget,
  client: SigninClient,
  nextUser: () => BenchUser,
  options: BenchOptions,
  round: number,
  argon2PerSecond: number,
): Promise<{ result: SigninRound; sample: { idToken: string; nonce: string; userId: string } | undefined }> {
  const o = options.signin;
  const req = tokenRequest(target.tokenEndpoint, target.clientId, target.clientSecret, TOKEN_FORM);
  const agent = new Agent({ keepAlive: true, maxSockets: Math.max(o.tokenConcurrency, 1) });
  let peak: number | undefined;
  const sample = () => {
    const rss = residentBytes(target.child.pid);
    if (rss !== undefined && (peak === undefined || rss > peak)) peak = rss;
  };
  const sampler = setInterval(sample, RSS_SAMPLE_MS);
  const both = (durationMs: number) =>
    Promise.all([
      runSignins(client, nextUser, { concurrency: o.concurrency, durationMs }),
      o.tokenConcurrency > 0 ? runLoad(agent, req, { concurrency: o.tokenConcurrency, durationMs }) : undefined,
    ]);
  try {
    const [warmSignins, warmTokens] = await both(o.warmupSeconds * 1e3);
    const cpuBefore = process.cpuUsage();
    const serverBefore = cpuSeconds(target.child.pid);
    const machineBefore = machineTicks();
    const [signins, tokens] = await both(o.seconds * 1e3);
    const cpu = process.cpuUsage(cpuBefore);
    const serverAfter = cpuSeconds(target.child.pid);
    const machineAfter = machineTicks();
    sample();
    const serverCpu = serverBefore === undefined || serverAfter === undefined ? undefined : serverAfter - serverBefore;
    const signinsPerSecond = signins.ok / (signins.elapsedMs / 1e3);
    return {
      result: {
        round,
        argon2PerSecond,
        signinsPerSecond,
        signins: signins.ok,
        // warm-up failures count too: every flow must end with an ID token
        signinErrors: warmSignins.errors + signins.errors,
        firstSigninError: warmSignins.firstError ?? signins.firstError,
        flowP50Ms: percentile(signins.latenciesMs, 50),
        flowP99Ms: percentile(signins.latenciesMs, 99),
        tokensPerSecond: tokens ? tokens.ok / (tokens.elapsedMs / 1e3) : undefined,
        tokenP50Ms: tokens ? percentile(tokens.latenciesMs, 50) : undefined,
        tokenP99Ms: tokens ? percentile(tokens.latenciesMs, 99) : undefined,
        tokenErrors: (warmTokens?.errors ?? 0) + (tokens?.errors ?? 0),
        firstTokenError: warmTokens?.firstError ?? tokens?.firstError,
        serverCpuPercent: serverCpu === undefined ? undefined : (serverCpu * 1e3 * 100) / signins.elapsedMs,
        generatorCpuPercent: ((cpu.user + cpu.system) / 1e3 / signins.elapsedMs) * 100,
        machineCpuPercent: machineBusyPercent(machineBefore, machineAfter),
        peakRssBytes: peak,
      },
      sample: warmSignins.sample ?? signins.sample,
    };
  } finally {
    clearInterval(sampler);
    agent.destroy();
  }
}
