/**
 * Server CPU time from /proc: the user+system time of a set of processes, in seconds. Linux only; on other systems
 * (or for pids we cannot read) it reports 0, and the report leaves CPU per operation out.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ; 100 on every Linux this runs on). */
const USER_HZ = 100;

export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may contain spaces) start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the full line)
    } catch {
      // process gone or not readable
    }
  }
  return ticks / USER_HZ;
}
