/**
 * Named fault-injection points in the driver loop (etcd's gofail idea). Disabled points cost one boolean test.
 *
 * Enable with `LATCHKEY_FAILPOINTS="name=action;name2=action"`. Actions:
 * - `panic` — the process kills itself with SIGKILL at that point (a crash, exactly like `kill -9`);
 * - `panic@N` — the same, on the Nth time the point is reached;
 * - `sleep(MS)` — pause the loop for MS milliseconds each time.
 */
export const FAILPOINT_NAMES = [
  'raftBeforeSave',
  'raftAfterSave',
  'raftBeforeSend',
  'raftAfterSend',
  'raftBeforeApply',
  'raftAfterApply',
  'raftBeforeSaveSnapshot',
  'raftAfterSaveSnapshot',
  'raftBeforeApplySnapshot',
] as const;
export type FailpointName = (typeof FAILPOINT_NAMES)[number];

type Action = { kind: 'panic'; at: number } | { kind: 'sleep'; ms: number };

export class Failpoints {
  private readonly actions = new Map<string, Action>();
  private readonly hits = new Map<string, number>();
  readonly enabled: boolean;

  constructor(spec: string | undefined = process.env['LATCHKEY_FAILPOINTS']) {
    for (const part of (spec ?? '').split(';').map((s) => s.trim()).filter(Boolean)) {
      const [name, action = ''] = part.split('=', 2) as [string, string?];
      if (!(FAILPOINT_NAMES as readonly string[]).includes(name)) throw new Error(`unknown failpoint ${name}`);
      const panic = /^panic(?:@(\d+))?$/.exec(action);
      const sleep = /^sleep\((\d+)\)$/.exec(action);
      if (panic) this.actions.set(name, { kind: 'panic', at: panic[1] ? Number(panic[1]) : 1 });
      else if (sleep) this.actions.set(name, { kind: 'sleep', ms: Number(sleep[1]) });
      else throw new Error(`failpoint ${name}: unknown action "${action}"`);
    }
    this.enabled = this.actions.size > 0;
  }

  /** Runs the action of `name`, if any. Returns a promise only for sleeps. */
  hit(name: FailpointName): Promise<void> | undefined {
    if (!this.enabled) return undefined;
    const a = this.actions.get(name);
    if (!a) return undefined;
    if (a.kind === 'sleep') return new Promise((r) => setTimeout(r, a.ms));
    const n = (this.hits.get(name) ?? 0) + 1;
    this.hits.set(name, n);
    if (n >= a.at) {
      process.stderr.write(`failpoint ${name}: crashing (hit ${n})\n`);
      process.kill(process.pid, 'SIGKILL');
    }
    return undefined;
  }
}
