// Child-process entry of the baseline: serves the bare provider on 127.0.0.1, any free port, and
// prints one JSON line `{"url": ...}` on stdout so the bench knows where it is. It runs in its own
// process, as our product does, so neither shares an event loop with the load generator.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBareProvider } from './bare-provider.ts';

const clientId = process.env.BENCH_CLIENT_ID;
const clientSecret = process.env.BENCH_CLIENT_SECRET;
if (!clientId || !clientSecret) {
  console.error('bare-server: BENCH_CLIENT_ID and BENCH_CLIENT_SECRET are required');
  process.exit(2);
}

// The issuer must name the port, which is known only after listening: listen first, attach after.
const server = createServer();
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const provider = createBareProvider(url, clientId, clientSecret);
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ url })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
