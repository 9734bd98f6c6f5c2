import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A fenced code block of a walk-through, named by the `<!-- walkthrough: name -->` line before it. */
export interface MarkedBlock {
  name: string;
  lang: string;
  code: string;
}

const MARKED = /<!-- walkthrough: ([\w-]+) -->\n```(\w+)\n([\s\S]*?)\n```/g;

/** The marked blocks of a Markdown file, by name (a name used twice is an error in the document). */
export function markedBlocks(file: URL): Map<string, MarkedBlock> {
  const blocks = new Map<string, MarkedBlock>();
  for (const [, name = '', lang = '', code = ''] of readFileSync(file, 'utf8').matchAll(MARKED)) {
    if (blocks.has(name)) throw new Error(`${file.pathname}: two blocks named ${name}`);
    blocks.set(name, { name, lang, code });
  }
  return blocks;
}

/**
 * Runs shell blocks one after another as if typed into one bash session: variables and functions
 * a block defines are there for the next (saved to a file between blocks, as `set -a` exports
 * them). `replace` turns the document's addresses into the test's; `npm` is a no-op, since the
 * test runs the server itself.
 */
export class WalkthroughShell {
  private readonly state: string;
  private readonly replace: Record<string, string>;

  constructor(dir: string, replace: Record<string, string> = {}) {
    this.dir = dir;
    this.replace = replace;
    this.state = join(dir, '.walkthrough-state');
  }

  readonly dir: string;

  /** Runs `code` (after the replacements); stdin gets `input`. Rejects unless bash exits 0. */
  run(code: string, input = ''): Promise<string> {
    let script = code;
    for (const [from, to] of Object.entries(this.replace)) script = script.replaceAll(from, to);
    const load = existsSync(this.state) ? `source ${JSON.stringify(this.state)}\n` : '';
    const full = [
      'set -euo pipefail',
      'set -a',
      'npm() { :; }',
      load,
      script,
      `{ export -p; declare -f; } > ${JSON.stringify(this.state)}`,
    ].join('\n');
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', full], { cwd: this.dir, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on('error', reject);
      // a block that does not read its input can exit before the input is written (EPIPE): its
      // exit status is what counts, so the write's error is not one
      child.stdin.on('error', () => {});
      child.on('close', (status) => {
        if (status === 0) resolve(stdout);
        else
          reject(
            new Error(`bash exited ${status}\n--- script\n${script}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`),
          );
      });
      child.stdin.end(input);
    });
  }

  /** The value of a shell variable the blocks set. */
  async get(name: string): Promise<string> {
    return this.run(`printf %s "$${name}"`);
  }
}
