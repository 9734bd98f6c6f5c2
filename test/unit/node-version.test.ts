import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MINIMUM_NODE, nodeVersionProblem } from '../../src/node-version.ts';

test('regression: Node older than 22.14 is refused with one line (argon2 segfaults below it)', () => {
  for (const old of ['22.12.0', '22.13.1', '20.19.0', '18.0.0', 'v22.13.0']) {
    const message = nodeVersionProblem(old);
    assert.ok(message, old);
    assert.match(message, /needs Node\.js 22\.14\.0 or newer/);
    assert.ok(!message.includes('\n'));
  }
  for (const fine of ['22.14.0', '22.20.1', '23.0.0', '24.11.0', '30.1.2']) {
    assert.equal(nodeVersionProblem(fine), undefined, fine);
  }
});

test('regression: engines, .ci/run and the README state the same minimum as the check', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const short = MINIMUM_NODE.replace(/\.0$/, '');
  assert.equal(pkg.engines.node, `>=${short}`);
  assert.match(readFileSync(new URL('../../README.md', import.meta.url), 'utf8'), new RegExp(`Node\\.js ${short}`));
  assert.match(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8'), /a === 22 && b >= 14/);
});

test('the check module is the first import of both entry points', () => {
  for (const [file, spec] of [
    ['../../src/main.ts', './node-version.ts'],
    ['../../src/cli/main.ts', '../node-version.ts'],
  ] as const) {
    const text = readFileSync(new URL(file, import.meta.url), 'utf8');
    const first = /^import .*$/m.exec(text)?.[0];
    assert.equal(first, `import '${spec}';`, file);
  }
});

test("the machine's old node (when there is one) stops with the message, not a crash", (t) => {
  const old = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' });
  const version = old.stdout?.trim();
  if (old.status !== 0 || !version || nodeVersionProblem(version) === undefined) {
    t.skip('no older node on this machine');
    return;
  }
  // an old node cannot strip types: the module is plain enough to run once its one annotation is gone
  const source = readFileSync(new URL('../../src/node-version.ts', import.meta.url), 'utf8').replace(
    /\(version: string\): string \| undefined/,
    '(version)',
  );
  const run = spawnSync('/usr/bin/node', ['--input-type=module', '-e', source], { encoding: 'utf8' });
  assert.equal(run.status, 1);
  assert.equal(run.stderr.trim(), `idp needs Node.js ${MINIMUM_NODE} or newer; this is Node.js ${version.slice(1)}`);
});
