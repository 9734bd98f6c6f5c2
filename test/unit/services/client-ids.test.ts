import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../../../src/cli/main.ts';
import { newClientId } from '../../../src/services/clients.ts';

test('regression: a generated client id never starts with "-" (the CLI would read it as an option)', () => {
  for (let i = 0; i < 20_000; i++) {
    const id = newClientId();
    assert.match(id, /^[\w][\w-]{21}$/);
  }
});

test('an id that does start with "-" (chosen by an admin) is reached after "--"', async () => {
  const refused = await runCli(['client', 'show', '-abc'], { env: { NODE_ENV: 'test' } });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /Unknown option/);
  // after `--` it is an id: the command gets as far as the configuration (none here, so exit 2 naming it)
  const taken = await runCli(['client', 'show', '--', '-abc'], { env: { NODE_ENV: 'production' } });
  assert.equal(taken.code, 2);
  assert.doesNotMatch(taken.stderr, /Unknown option/);
});
