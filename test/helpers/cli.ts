import { runCli } from '../../src/cli/main.ts';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `npm run idp -- <args>` with these variables (over NODE_ENV=test and LOG_LEVEL=error), run in
 * this process: the same code as the command line, without starting Node for every command. The
 * entry itself (argv, exit codes, streams) is tested with a real process in cli.test.ts.
 */
export function cliWith(env: Record<string, string | undefined>) {
  return (args: string[], stdin = ''): Promise<CliRun> =>
    runCli(args, { env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'error', ...env }, stdin });
}
