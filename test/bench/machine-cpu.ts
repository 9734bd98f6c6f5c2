import { readFileSync } from 'node:fs';

/** CPU time of the whole machine so far, in ticks: busy, and busy plus idle. */
export interface MachineTicks {
  readonly busy: number;
  readonly total: number;
}

/**
 * From the first line of /proc/stat (proc(5)): user nice system idle iowait irq softirq steal.
 * Guest time is already inside user and nice, so it is not added again. Undefined without /proc.
 */
export function machineTicks(): MachineTicks | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [label, ...fields] = line.trim().split(/\s+/);
    if (label !== 'cpu') return undefined;
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields.map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return undefined;
  }
}

/**
 * Share of all cores that was busy between two readings, in %: near 100 means the machine (the
 * server, the database, the load generator and any neighbour together) was the limit.
 */
export function machineBusyPercent(
  before: MachineTicks | undefined,
  after: MachineTicks | undefined,
): number | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  return ((after.busy - before.busy) * 100) / (after.total - before.total);
}
