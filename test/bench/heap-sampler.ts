// Preloaded into a server by token-profile.ts (`--import`) when it samples allocations: V8's
// sampling heap profiler, garbage included (what the collector spends its time on), started by
// the first SIGUSR2 and written to HEAP_PROFILE_OUT by the second.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const session = new Session();
session.connect();
const post = (method: string, params: object = {}) =>
  new Promise<Record<string, unknown>>((resolve, reject) => {
    session.post(method, params, (error, result) =>
      error ? reject(error) : resolve(result as Record<string, unknown>),
    );
  });
let sampling = false;
process.on('SIGUSR2', async () => {
  if (!sampling) {
    sampling = true;
    await post('HeapProfiler.enable');
    await post('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMinorGC: true,
      includeObjectsCollectedByMajorGC: true,
    });
    return;
  }
  sampling = false;
  const { profile } = await post('HeapProfiler.stopSampling');
  writeFileSync(process.env.HEAP_PROFILE_OUT ?? 'heap.json', JSON.stringify(profile));
});
