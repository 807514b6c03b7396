/**
 * Checks a recorded history of lock workers (see test/workers/lock-worker.ts) that each increment one shared
 * counter once per critical section.
 *
 * Violations it reports:
 *  - two successful writes wrote the same counter value (two holders read the same count: they overlapped);
 *  - fencing tokens of successful writes, in commit-revision order, are not strictly increasing;
 *  - the final counter is lower than the highest value written (a write was lost or rolled back), or more
 *    values are missing from 1..final than there were holders killed mid-section plus writes that failed
 *    ambiguously (timed out or lost the connection: they may have committed without being reported);
 *  - after a holder was killed, no other worker acquired the lock within `maxHandoffMs` (kills marked
 *    `checkHandoff: false` — say, while the cluster itself was partitioned — are not held to the bound).
 */
export interface WorkerEvent {
  ev: 'acquired' | 'write' | 'released' | 'lost' | 'done' | 'error';
  id: string;
  t: number;
  token?: string;
  ok?: boolean;
  value?: number;
  rev?: string;
  error?: string;
  /** On a failed write: the client knows it was not applied (`LatchkeyError.retryable`). */
  retryable?: boolean;
}

export interface Kill {
  id: string;
  t: number;
  /** The victim was inside its critical section (acquired, not yet released). */
  holding: boolean;
  /** Hold the next acquisition to `maxHandoffMs` (default true). */
  checkHandoff?: boolean;
}

export interface LockCheckResult {
  violations: string[];
  successfulWrites: number;
  failedWrites: number;
  acquisitions: number;
  /** Holder kill → next acquisition by another worker, ms, one per holder kill followed by an acquisition. */
  handoffsAfterKillMs: number[];
}

export function checkLockHistory(events: readonly WorkerEvent[], finalCounter: number, kills: readonly Kill[], maxHandoffMs: number): LockCheckResult {
  const violations: string[] = [];
  const ok = events.filter((e) => e.ev === 'write' && e.ok === true);
  const failed = events.filter((e) => e.ev === 'write' && e.ok === false).length;

  const byValue = new Map<number, WorkerEvent>();
  for (const w of ok) {
    const prev = byValue.get(w.value!);
    if (prev) violations.push(`value ${w.value} written twice: by ${prev.id} (token ${prev.token}) and ${w.id} (token ${w.token}) — overlapping holders`);
    else byValue.set(w.value!, w);
  }

  const inCommitOrder = [...ok].sort((a, b) => (BigInt(a.rev!) < BigInt(b.rev!) ? -1 : 1));
  for (let i = 1; i < inCommitOrder.length; i++) {
    const a = inCommitOrder[i - 1]!;
    const b = inCommitOrder[i]!;
    if (!(BigInt(b.token!) > BigInt(a.token!))) {
      violations.push(`fencing token did not increase: rev ${a.rev} token ${a.token} then rev ${b.rev} token ${b.token}`);
    }
  }

  const maxWritten = ok.reduce((m, w) => Math.max(m, w.value!), 0);
  if (finalCounter < maxWritten) violations.push(`final counter ${finalCounter} < highest acknowledged value ${maxWritten}: a write was lost`);
  let missing = 0;
  for (let v = 1; v <= finalCounter; v++) if (!byValue.has(v)) missing++;
  const holderKills = kills.filter((k) => k.holding).length;
  const ambiguous = events.filter((e) => e.ev === 'write' && e.ok === false && e.error !== 'LockLostError' && e.retryable !== true).length;
  if (missing > holderKills + ambiguous) {
    violations.push(`${missing} counter values have no acknowledged write but only ${holderKills} holders were killed mid-section and ${ambiguous} writes failed ambiguously`);
  }

  const acquisitions = events.filter((e) => e.ev === 'acquired').sort((a, b) => a.t - b.t);
  const handoffs: number[] = [];
  for (const k of kills.filter((k) => k.holding && k.checkHandoff !== false)) {
    const next = acquisitions.find((a) => a.t >= k.t && a.id !== k.id);
    if (next === undefined) continue; // the run ended (or every worker was killed) first
    const d = next.t - k.t;
    handoffs.push(d);
    if (d > maxHandoffMs) violations.push(`after holder ${k.id} was killed the lock was free for ${d} ms (> ${maxHandoffMs} ms)`);
  }
  return { violations, successfulWrites: ok.length, failedWrites: failed, acquisitions: acquisitions.length, handoffsAfterKillMs: handoffs };
}
