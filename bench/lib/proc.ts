/**
 * CPU time from Linux /proc, for CPU per request: req/s on a shared machine swings with whatever else
 * runs, while the CPU a server spends per request does not. Everything here reads files only (no
 * sampling thread), so the load generator can call it at every window boundary. Off Linux every reading
 * is undefined, and the figures built on it read "not measured".
 */
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second of utime/stime in /proc (USER_HZ: 100 on every Linux we run on). */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
const US_PER_TICK = 1e6 / CLK_TCK;

/** The pids of `pid` and of all its descendants (cluster workers). */
export function processTree(pid: number): number[] {
  const all = [pid];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const kid of kids === '' ? [] : kids.split(/\s+/)) all.push(...processTree(Number(kid)));
    }
  } catch {
    // Gone, or no /proc: the process itself is all we can see.
  }
  return all;
}

/** The fields of a /proc stat line after the command name (which may hold spaces and parentheses). */
function statFields(path: string): string[] | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * utime + stime of one process, all its threads included (hash worker threads too), in µs; with
 * `children`, also the CPU of its children that have exited and been waited for.
 */
export function processCpuUs(pid: number, children = false): number | undefined {
  // After the name: state is field 3 of stat(5); utime 14, stime 15, cutime 16, cstime 17.
  const f = statFields(`/proc/${pid}/stat`);
  if (f === undefined) return undefined;
  const ticks = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
  return ticks * US_PER_TICK;
}

/** CPU of a process and of all its living descendants (a server and its `--workers`), in µs. */
export function treeCpuUs(pid: number): number | undefined {
  let sum = 0;
  let seen = false;
  for (const p of processTree(pid)) {
    const us = processCpuUs(p);
    if (us !== undefined) {
      sum += us;
      seen = true;
    }
  }
  return seen ? sum : undefined;
}

export interface ThreadCpu {
  readonly tid: number;
  readonly name: string;
  readonly cpuUs: number;
  readonly nice: number;
}

/** Every thread of a process with its CPU time and nice value (to see which threads hashed, and at what priority). */
export function threads(pid: number | 'self'): ThreadCpu[] {
  const out: ThreadCpu[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    const path = `/proc/${pid}/task/${task}/stat`;
    const f = statFields(path);
    if (f === undefined) continue;
    let name = '';
    try {
      const text = readFileSync(path, 'utf8');
      name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
    } catch {
      // Gone between the two reads.
    }
    // nice is field 19 of stat(5).
    out.push({ tid: Number(task), name, cpuUs: (Number(f[11]) + Number(f[12])) * US_PER_TICK, nice: Number(f[16]) });
  }
  return out;
}

/** The whole machine's CPU time from /proc/stat: busy (everything but idle and iowait) and total, in µs of CPU. */
export function machineCpuUs(): { busyUs: number; totalUs: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is already in user).
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = v[3]! + v[4]!;
    return { busyUs: (total - idle) * US_PER_TICK, totalUs: total * US_PER_TICK };
  } catch {
    return undefined;
  }
}

/**
 * The threads that did a pool's work over some interval, without assuming their number or how the pool
 * is built: the threads running at a lower priority than the main thread (the hashing pool lowers its
 * own), when there are any; else those (other than the main thread) that took at least a quarter as much
 * CPU as the busiest of them (a pool shares its work roughly evenly, even on a busy machine; V8's
 * garbage-collection helpers take a few per cent).
 */
export function poolThreads<T extends { readonly tid: number; readonly delta: number; readonly nice: number }>(
  spent: readonly T[],
  mainTid: number,
): T[] {
  const main = spent.find((t) => t.tid === mainTid);
  const others = spent.filter((t) => t.tid !== mainTid);
  const niced = others.filter((t) => main !== undefined && t.nice > main.nice);
  if (niced.length > 0) return niced.filter((t) => t.delta > 0);
  const most = Math.max(0, ...others.map((t) => t.delta));
  return most > 0 ? others.filter((t) => t.delta >= 0.25 * most) : [];
}
