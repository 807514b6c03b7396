/**
 * Vitest glue for `processes.ts`: members started through `useMembers()` are always stopped, even when a test
 * fails or throws, and a failing test prints where each member's log is (and its tail).
 *
 * ```ts
 * const members = useMembers();                     // per test: stopped in afterEach
 * test('kv - put then get', async () => {
 *   const m = await members.start({ kind: 'latchkey' });
 *   …
 * });
 *
 * const shared = useMembers({ scope: 'file' });     // per file: stopped in afterAll
 * ```
 *
 * Temp dirs are deleted after a passing test and kept after a failing one (their paths are printed).
 */
import { afterAll, afterEach } from 'vitest';
import { Cluster, type ClusterOptions } from './cluster.js';
import { Member, type MemberOptions } from './processes.js';

export interface MemberSet {
  /** Starts a member (see `Member.start`) and tracks it for cleanup. */
  start(options: MemberOptions): Promise<Member>;
  /** Members started so far in the current scope. */
  readonly members: readonly Member[];
  /** Log locations of the tracked members, one per line. */
  describeLogs(): string;
}

export function useMembers(options: { scope?: 'test' | 'file'; logTailLines?: number } = {}): MemberSet {
  const members: Member[] = [];
  let failed = false;
  const set: MemberSet = {
    async start(memberOptions) {
      const m = await Member.start(memberOptions);
      members.push(m);
      return m;
    },
    get members() {
      return members;
    },
    describeLogs() {
      return members.map((m) => `  ${m.kind} ${m.name} ${m.endpoint}: ${m.logPath}`).join('\n');
    },
  };
  const cleanup = async (testFailed: boolean): Promise<void> => {
    const current = members.splice(0);
    if (testFailed && current.length > 0) {
      const tails = current.map((m) => `--- ${m.toString()}\n${m.logTail(options.logTailLines ?? 20)}`).join('\n');
      console.error(`member logs kept for the failed test:\n${current.map((m) => `  ${m.toString()}`).join('\n')}\n${tails}`);
    }
    // Stop everything first (in parallel), then delete files; a stop failure must not leave other members running.
    const results = await Promise.allSettled(current.map((m) => m.dispose({ keepFiles: testFailed })));
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (errors.length > 0) throw new AggregateError(errors, 'useMembers: cleanup failed');
  };
  if ((options.scope ?? 'test') === 'test') {
    afterEach(async (ctx) => {
      await cleanup(ctx.task.result?.state === 'fail');
    });
  } else {
    afterEach((ctx) => {
      if (ctx.task.result?.state === 'fail') failed = true;
    });
    afterAll(async () => {
      await cleanup(failed);
    });
  }
  return set;
}

export interface ClusterSet {
  /** Starts a cluster (see `Cluster.start`) and tracks it for cleanup. */
  start(options: ClusterOptions): Promise<Cluster>;
  /** Stops and deletes the tracked clusters now (for a test that runs one kind after another). */
  disposeAll(): Promise<void>;
}

/**
 * Clusters started through the returned set are stopped after each test; after a failing one their files are
 * kept and the member logs' paths printed.
 */
export function useClusters(): ClusterSet {
  const clusters: Cluster[] = [];
  afterEach(async (ctx) => {
    const failed = ctx.task.result?.state === 'fail';
    for (const c of clusters.splice(0)) {
      if (failed) console.error(`cluster logs kept:\n${c.members.map((m) => `  ${m.logPath}`).join('\n')}`);
      await c.dispose({ keepFiles: failed });
    }
  });
  return {
    async start(options) {
      const c = await Cluster.start(options);
      clusters.push(c);
      return c;
    },
    async disposeAll() {
      for (const c of clusters.splice(0)) await c.dispose();
    },
  };
}
