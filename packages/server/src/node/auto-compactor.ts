import type { Clock } from './clock.js';

/**
 * etcd's --auto-compaction-mode / --auto-compaction-retention, run by the leader only:
 * - `revision`: every 5 minutes, compact at (current revision - retention);
 * - `periodic`: keep `retention` worth of history: the revision current `retention` ago is remembered from
 *   samples taken every retention/10 (at most hourly), and compacted to when it is older than that.
 * Compaction is proposed like any client Compact request; errors (already compacted) are ignored.
 */
export class AutoCompactor {
  private timer: NodeJS.Timeout | undefined;
  private samples: { at: number; rev: bigint }[] = [];

  constructor(
    private readonly mode: 'periodic' | 'revision',
    /** ms for periodic, a revision count for revision mode; 0 disables */
    private readonly retention: number,
    private readonly clock: Clock,
    private readonly state: () => { isLeader: boolean; currentRev: bigint; compactRev: bigint },
    private readonly compact: (rev: bigint) => Promise<unknown>,
  ) {}

  start(): void {
    if (this.retention <= 0) return;
    const interval = this.mode === 'revision' ? 5 * 60_000 : Math.max(1000, Math.min(this.retention, 3_600_000) / 10);
    this.timer = setInterval(() => this.tick(), interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One round; exposed for tests. */
  tick(): void {
    const { isLeader, currentRev, compactRev } = this.state();
    const now = this.clock.now();
    if (this.mode === 'periodic') {
      this.samples.push({ at: now, rev: currentRev });
      if (!isLeader) return;
      let target: bigint | undefined;
      while (this.samples.length > 0 && now - this.samples[0]!.at >= this.retention) target = this.samples.shift()!.rev;
      if (target !== undefined && target > compactRev && target > 1n) void this.compact(target).catch(() => undefined);
      return;
    }
    if (!isLeader) return;
    const target = currentRev - BigInt(this.retention);
    if (target > compactRev && target > 1n) void this.compact(target).catch(() => undefined);
  }
}

/** Parses --auto-compaction-retention: "1h", "30m", "90s", or a bare number (hours for periodic, revisions otherwise). */
export function parseRetention(mode: 'periodic' | 'revision', value: string): number {
  const v = value.trim();
  if (mode === 'revision') {
    if (!/^\d+$/.test(v)) throw new Error(`invalid auto compaction retention "${value}" for revision mode`);
    return Number(v);
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 3_600_000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (!m) throw new Error(`invalid auto compaction retention "${value}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}
