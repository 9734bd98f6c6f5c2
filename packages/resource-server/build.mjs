// Builds dist/esm (ES modules) and dist/cjs (CommonJS) with tsc alone: the sources are written
// once, as ES modules; the CommonJS build compiles a copy whose package.json says "commonjs".
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const run = (...args) => execFileSync(process.execPath, [tsc, ...args], { stdio: 'inherit', cwd: here });

// `node build.mjs [outDir]` (default ./dist): the tests build into a folder of their own
const out = resolve(process.argv[2] ?? join(here, 'dist'));
rmSync(out, { recursive: true, force: true });
run('-p', 'tsconfig.json', '--outDir', join(out, 'esm'));
writeFileSync(join(out, 'esm/package.json'), '{ "type": "module" }\n');

// tsc picks CommonJS output for .ts files under a package.json with "type": "commonjs": compile
// a copy of the sources in such a folder (inside the package, so that jose and @types/node resolve)
const work = mkdtempSync(join(here, '.build-cjs-'));
try {
  cpSync(join(here, 'src'), join(work, 'src'), { recursive: true });
  writeFileSync(join(work, 'package.json'), '{ "type": "commonjs" }\n');
  writeFileSync(
    join(work, 'tsconfig.json'),
    JSON.stringify({
      extends: '../tsconfig.json',
      compilerOptions: { rootDir: 'src', outDir: join(out, 'cjs'), verbatimModuleSyntax: false },
      include: ['src'],
    }),
  );
  run('-p', join(work, 'tsconfig.json'));
} finally {
  rmSync(work, { recursive: true, force: true });
}
writeFileSync(join(out, 'cjs/package.json'), '{ "type": "commonjs" }\n');
