/**
 * The oldest Node.js this server runs on. argon2's prebuilt binary crashes the process
 * (a segmentation fault, with no message) on older 22.x releases, so they are refused here
 * with one clear line before anything native is loaded.
 *
 * Imported first by `main.ts` and `cli/main.ts`, and written in the plainest JavaScript
 * (no syntax or APIs newer than the Nodes it refuses) so it runs wherever it can be loaded.
 */
export const MINIMUM_NODE = '22.14.0';

/** @returns the message to stop with, or undefined when `version` (e.g. `22.12.0`) is new enough */
export function nodeVersionProblem(version: string): string | undefined {
  const have = version.replace(/^v/, '').split('.');
  const need = MINIMUM_NODE.split('.');
  for (let i = 0; i < 3; i++) {
    const a = Number(have[i]);
    const b = Number(need[i]);
    if (a > b) return undefined;
    if (!(a >= b)) return `idp needs Node.js ${MINIMUM_NODE} or newer; this is Node.js ${version}`;
  }
  return undefined;
}

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
