// `npm run build` (and `npm start`, which builds first): the JavaScript the server runs, in
// dist/ (decision 0011). Node's own type stripper (module.stripTypeScriptTypes, the one that runs
// .ts files) writes each src/**/*.ts as .js with the types blanked out, so every line and column
// stays where it is in the source; relative imports of `.ts` files become `.js` (same length).
// What the code reads relative to itself (views, migrations, package.json, data files) is copied
// beside it at the same relative place. Takes about a second; needs nothing from node_modules.
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist');
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"\n]*?)\.ts\2/g;

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else yield path;
  }
}

const started = performance.now();
await rm(out, { recursive: true, force: true });
let count = 0;
// the server's sources, and the token checker's, which the server imports from its package
const sources = async function* () {
  yield* files(join(root, 'src'));
  yield* files(join(root, 'packages', 'resource-server', 'src'));
};
for await (const file of sources()) {
  const target = join(out, relative(root, file));
  await mkdir(dirname(target), { recursive: true });
  if (!file.endsWith('.ts') || file.endsWith('.d.ts')) {
    await cp(file, target);
    continue;
  }
  const js = stripTypeScriptTypes(await readFile(file, 'utf8'), { mode: 'strip' }).replace(
    SPECIFIER,
    (_all, lead, quote, path) => `${lead}${quote}${path}.js${quote}`,
  );
  const left = /(?:\bfrom\s*|\bimport\s*\(\s*)['"]\.{1,2}\/[^'"\n]*\.ts['"]/.exec(js);
  if (left) throw new Error(`${relative(root, file)}: an import of a .ts file was not rewritten: ${left[0]}`);
  await writeFile(target.replace(/\.ts$/, '.js'), js);
  count++;
}
for (const asset of ['views', join('prisma', 'migrations'), 'package.json']) {
  await cp(join(root, asset), join(out, asset), { recursive: true });
}
process.stderr.write(`build: ${count} files into dist/ in ${Math.round(performance.now() - started)} ms\n`);
