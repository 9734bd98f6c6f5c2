import type { ErrorDetail } from '../errors.ts';

/**
 * A refusal the CLI reports in one line on stderr. Exit 2: the operator's input was wrong
 * (a flag, a field the admin API's validation refuses); exit 1: the command failed.
 */
export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: 1 | 2;
  constructor(message: string, exitCode: 1 | 2 = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

export const usageError = (message: string): CliError => new CliError(message, 2);

/** `error_description` then the fields it names: `name: must be ...; scopes.0: ...`. */
export function describeFailure(message: string, details: readonly ErrorDetail[] | undefined): string {
  const fields = (details ?? []).map((d) => `${d.field}: ${d.message}`).join('; ');
  return fields && !message.includes(fields) ? `${message} (${fields})` : message;
}

/** 400 and 409 mean the input was refused (exit 2); anything else is a failure (exit 1). */
export const exitCodeFor = (status: number): 1 | 2 => (status === 400 || status === 409 ? 2 : 1);
