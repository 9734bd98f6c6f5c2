// After `prisma generate`: the generated client (src/db/generated/internal/class.ts) loads the
// query compiler's WebAssembly by importing a JavaScript module whose one export is the binary
// as a 4.5 MB base64 string, then decodes that string. An ES module is never unloaded, so the
// process kept the module's source and the string (9 MB of heap, and 10 MB of the parser's
// memory) for its whole life, though they serve once, to compile the WebAssembly module. This
// rewrites the loader to read the same file as bytes and decode it in small pieces, so that
// nothing of it outlives the compilation and no large string is left for a collection that,
// at idle, does not come.
import { readFileSync, writeFileSync } from 'node:fs';

const FILE = new URL('../src/db/generated/internal/class.ts', import.meta.url);
const LOADER =
  /const \{ wasm \} = await import\("(@prisma\/client\/runtime\/query_compiler_[a-z_]+\.postgresql\.wasm-base64\.mjs)"\)\n(\s*)return await decodeBase64AsWasm\(wasm\)/;
const HELPER = `
/** The bytes of a \`const wasm = "<base64>"\` module, read as a file (see prisma/read-wasm.mjs). */
async function readWasmModule(specifier: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises')
  const file = await readFile(new URL(import.meta.resolve(specifier)))
  const prefix = Buffer.from('const wasm = "')
  const found = file.indexOf(prefix)
  const start = found + prefix.length
  const end = file.indexOf('"', start)
  if (found === -1 || end === -1) throw new Error(\`\${specifier}: no base64 string found\`)
  const bytes = Buffer.allocUnsafe(Math.ceil(((end - start) * 3) / 4))
  let length = 0
  // pieces of a multiple of 4 characters decode independently; each is young garbage at once
  for (let at = start; at < end; at += 65_536) {
    length += bytes.write(file.toString('latin1', at, Math.min(at + 65_536, end)), length, 'base64')
  }
  return bytes.subarray(0, length)
}
`;

/** Rewrites the generated client in place; throws when it no longer has the expected lines. */
export function readWasmFromFile() {
  const source = readFileSync(FILE, 'utf8');
  const match = LOADER.exec(source);
  if (!match) {
    throw new Error(
      `${FILE.pathname}: the query compiler is no longer loaded as expected; update prisma/read-wasm.mjs`,
    );
  }
  const replacement = `return new WebAssembly.Module(await readWasmModule(${JSON.stringify(match[1])}))`;
  writeFileSync(FILE, source.replace(LOADER, replacement) + HELPER);
}
