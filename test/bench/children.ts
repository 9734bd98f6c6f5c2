import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A server under test, running in its own process. */
export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** the last lines the child wrote, to explain why it died or misbehaved */
  tail(): string;
  /** resolves with the first stdout line matching `test`, rejects if the child exits or time runs out */
  waitForLine(test: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Child>();
const TAIL_LINES = 40;

/** Starts `node <args>` with the bench's own Node (24), so children never run on the machine's older node. */
export function spawnNode(name: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Child {
  // BENCH_NODE_WRAPPER (words separated by spaces) runs the child under another program, e.g. valgrind
  const wrapper = options.env.BENCH_NODE_WRAPPER?.split(' ').filter(Boolean) ?? [];
  const [command, ...rest] = [...wrapper, process.execPath, ...args];
  const proc = spawn(command as string, rest, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = proc.pid;
  const lines: string[] = [];
  const lineListeners = new Set<(line: string) => void>();
  let exited = proc.exitCode !== null || proc.signalCode !== null;
  const exit = new Promise<void>((resolve) => {
    proc.once('exit', () => {
      exited = true;
      resolve();
    });
  });

  // Always drain both pipes: a child whose pipe fills up blocks on write and would look slow.
  const collect = (stream: NodeJS.ReadableStream | null, isStdout: boolean) => {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (lines.length > TAIL_LINES) lines.shift();
        if (isStdout) for (const listener of lineListeners) listener(line);
      }
    });
  };
  collect(proc.stdout, true);
  collect(proc.stderr, false);

  const child: Child = {
    name,
    pid,
    process: proc,
    tail: () => lines.join('\n'),
    waitForLine(test, timeoutMs) {
      return new Promise<string>((resolve, reject) => {
        const done = (error: Error | undefined, line?: string) => {
          clearTimeout(timer);
          lineListeners.delete(onLine);
          proc.off('exit', onExit);
          if (error) reject(error);
          else resolve(line ?? '');
        };
        const onLine = (line: string) => {
          if (test(line)) done(undefined, line);
        };
        const onExit = () => done(new Error(`${name} exited before it was ready:\n${child.tail()}`));
        const timer = setTimeout(
          () => done(new Error(`${name} was not ready within ${timeoutMs} ms:\n${child.tail()}`)),
          timeoutMs,
        );
        lineListeners.add(onLine);
        proc.once('exit', onExit);
        if (exited) onExit();
      });
    },
    async stop(graceMs = 5_000) {
      running.delete(child);
      if (exited) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
  running.add(child);
  return child;
}

/** Stops every child still running, in parallel. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop()));
}

/** Last resort on process exit (only synchronous work is possible there): no child outlives the bench. */
export function killAllNow(): void {
  for (const child of running) child.process.kill('SIGKILL');
  running.clear();
}

/** Resident set size of a process in bytes (Linux /proc), or undefined where /proc is unavailable. */
export function residentBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Linux USER_HZ: /proc reports CPU time in these ticks, 100 on every mainstream architecture. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (user + system) a process has used so far, in seconds, or undefined without /proc. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // proc(5): fields after the parenthesised command name; utime and stime are fields 14 and 15
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
