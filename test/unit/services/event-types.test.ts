import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventPatternProblem } from '../../../src/services/event-types.ts';

/** Every `.ts` file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

test('every event type the server records can be named in a webhook filter', () => {
  const recorded = new Set<string>();
  for (const file of sources('src')) {
    const text = readFileSync(file, 'utf8');
    // `type: 'signin.failed'` in events.record calls, `event: 'user.updated'` on admin routes
    for (const match of text.matchAll(/\b(?:type|event): '([a-z_]+\.[a-z_]+)'/g)) recorded.add(match[1] as string);
  }
  assert.ok(recorded.size > 30, `found ${recorded.size} event types`);
  const unknown = [...recorded].filter((type) => eventPatternProblem(type) !== undefined);
  assert.deepEqual(unknown, [], 'add these to src/services/event-types.ts');
});

test('filters: exact types, families and * pass; anything else is refused', () => {
  assert.equal(eventPatternProblem('signin.failed'), undefined);
  assert.equal(eventPatternProblem('user.*'), undefined);
  assert.equal(eventPatternProblem('*'), undefined);
  for (const bad of ['signin.faild', 'nosuch.*', 'signin', '', 'user.**', 'SIGNIN.FAILED']) {
    assert.ok(eventPatternProblem(bad), bad);
  }
});
