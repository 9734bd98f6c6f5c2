// Runs `prisma generate` after install. Generation needs no native schema engine (the
// Prisma 7 client is WASM), but the CLI still tries to download one unless
// PRISMA_SCHEMA_ENGINE_BINARY names an executable; on a machine without access to
// Prisma's download host that download fails, so point it at node itself.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readWasmFromFile } from './read-wasm.mjs';

const require = createRequire(import.meta.url);
const cli = require.resolve('prisma/build/index.js');
const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
const result = spawnSync(process.execPath, [cli, 'generate', '--schema', 'prisma/schema.prisma'], {
  stdio: 'inherit',
  env,
});
if (result.status === 0) readWasmFromFile();
process.exit(result.status ?? 1);
