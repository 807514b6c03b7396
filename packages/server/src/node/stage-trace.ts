import { appendFileSync } from 'node:fs';

/**
 * Stage timestamps for latency studies: where a write, a linearizable read or a lock handoff spends its time
 * between the members. Off unless the environment variable `LATCHKEY_STAGE_TRACE` names a file; then every
 * member appends lines `<pid> <stage> <raft index or -1> <monotonic ns>` to it. The clock is the machine's
 * monotonic clock, the same in every process, so the members of a cluster on one host can share one file and
 * their lines can be merged by time (`test/bench/stages.ts` does that; BENCHMARKS.md shows how to run it).
 *
 * Contract: call sites test `tracing` before calling `stage` (so a disabled trace costs one branch and builds
 * no strings). Lines are buffered and appended at most once a second, when 4096 are waiting and at exit;
 * a member killed with SIGKILL loses its last second of lines.
 */
const file = process.env.LATCHKEY_STAGE_TRACE || undefined;

/** Whether stages are being recorded. */
export const tracing = file !== undefined;

let lines: string[] = [];

/** Records that this member reached `name` now (for the Raft entry `index`, or -1 when there is none). */
export function stage(name: string, index: number): void {
  lines.push(`${process.pid} ${name} ${index} ${process.hrtime.bigint()}`);
  if (lines.length >= 4096) flush();
}

function flush(): void {
  if (lines.length === 0 || file === undefined) return;
  const text = lines.join('\n') + '\n';
  lines = [];
  try {
    appendFileSync(file, text);
  } catch {
    // A diagnostic must not take the member down: lines that cannot be written are dropped.
  }
}

if (tracing) {
  setInterval(flush, 1000).unref();
  process.on('exit', flush);
}
