import { BUG_NAMES, MemoryStorage, type BugName, type Ready } from '@latchkey/server/raft';
import { describe, expect, it } from 'vitest';
import { SimDisk } from './disk.js';
import { decodePut, encodePut, KvStore } from './kv.js';
import { swarmParams } from './params.js';
import { Prng } from './prng.js';
import { formatFailure, runSeed } from './simulation.js';

// The deterministic simulator: whole clusters under a seeded PRNG and virtual time, checked for Raft's safety
// properties after every step, for linearizability at the end of each seed, and for liveness after faults heal.
// Long runs: `npm run sim -- --seeds 100000` (after `npx tsc -b`).

const CLEAN_SEEDS = 2000;
/** Every bug must be caught within this many seeds (most are caught much sooner; see the printed table). */
const BUG_BUDGET = 1500;

describe('sim - clean runs', () => {
  it(`sim - ${CLEAN_SEEDS} seeds run clean`, { timeout: 300_000 }, () => {
    const t0 = Date.now();
    for (let seed = 1; seed <= CLEAN_SEEDS; seed++) {
      const r = runSeed(seed);
      if (!r.ok) expect.fail(formatFailure(r));
    }
    const ms = Date.now() - t0;
    console.log(`sim: ${CLEAN_SEEDS} clean seeds in ${(ms / 1000).toFixed(1)}s (${((CLEAN_SEEDS / ms) * 60_000).toFixed(0)} seeds/min)`);
  });

  it('sim - a seed replays exactly (same result, same trace)', () => {
    for (const seed of [7, 42]) {
      const a = runSeed(seed);
      const b = runSeed(seed);
      expect(b.stats).toEqual(a.stats);
    }
    // A failing run, with its trace, is reproduced byte for byte.
    const bugs = new Set<BugName>(['vote-ignores-log']);
    let seed = 1;
    while (runSeed(seed, { bugs }).ok && seed < BUG_BUDGET) seed++;
    const f1 = runSeed(seed, { bugs });
    const f2 = runSeed(seed, { bugs });
    expect(f1.ok).toBe(false);
    expect(f1.trace.length).toBeGreaterThan(10);
    expect(formatFailure(f2)).toBe(formatFailure(f1));
  });

  it('sim - runs exercise the faults they are meant to', () => {
    // Across a handful of seeds the simulator crashes, partitions, reconfigures, transfers, snapshots and elects.
    const total = { crashes: 0, partitions: 0, confChanges: 0, transfers: 0, snapshotsSent: 0, leaders: 0, ops: 0, indeterminate: 0 };
    for (let seed = 1; seed <= 40; seed++) {
      const s = runSeed(seed).stats;
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += s[k];
    }
    for (const [k, v] of Object.entries(total)) expect(v, k).toBeGreaterThan(0);
  });
});

describe('sim - bug zoo', () => {
  const found: string[] = [];

  it.each(BUG_NAMES.map((b) => [b]))('sim - bug zoo: %s is caught', { timeout: 300_000 }, (bug) => {
    const bugs = new Set<BugName>([bug as BugName]);
    for (let seed = 1; seed <= BUG_BUDGET; seed++) {
      const r = runSeed(seed, { bugs });
      if (!r.ok) {
        found.push(`${bug.padEnd(32)} seed ${String(seed).padStart(4)}  ${r.violation!.invariant}`);
        return;
      }
    }
    expect.fail(`bug ${bug} was not caught by seeds 1..${BUG_BUDGET}`);
  });

  it('sim - bug zoo summary', () => {
    console.log(`sim: bug zoo, first detecting seed:\n  ${found.join('\n  ')}`);
    expect(found).toHaveLength(BUG_NAMES.length);
  });
});

describe('sim - building blocks', () => {
  it('sim - the PRNG is deterministic per seed and stream, and uniform enough', () => {
    const a = new Prng(99, 3);
    const b = new Prng(99, 3);
    const c = new Prng(99, 4);
    const xs = Array.from({ length: 5 }, () => a.nextU32());
    expect(Array.from({ length: 5 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.nextU32())).not.toEqual(xs);
    const r = new Prng(1);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) buckets[r.int(10)]!++;
    for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });

  it('sim - swarm parameters depend only on the seed', () => {
    expect(swarmParams(1234)).toEqual(swarmParams(1234));
    expect(swarmParams(1234)).not.toEqual(swarmParams(1235));
  });

  it('sim - the disk keeps synced writes and may lose unsynced ones at a crash', () => {
    const ready = (entries: number[], commit: number, sync: boolean): Ready => ({
      entries: entries.map((i) => ({ term: 1, index: i, type: 0, data: new Uint8Array([i]) })),
      hardState: { term: 1, vote: 1n, commit },
      committedEntries: [],
      readStates: [],
      messages: [],
      mustSync: sync,
    });
    let lostSomething = false;
    for (let seed = 1; seed <= 20; seed++) {
      const disk = new SimDisk(MemoryStorage.withConfState({ voters: [1n], learners: [] }, 1, 1));
      disk.write(ready([2, 3], 2, true), true);
      disk.write(ready([4], 3, false), false); // a durability bug: entries written without fsync
      const after = disk.crash(new Prng(seed));
      expect(after.lastIndex()).toBeGreaterThanOrEqual(3);
      expect(after.initialState().hardState.commit).toBeGreaterThanOrEqual(2);
      if (after.lastIndex() === 3) lostSomething = true;
    }
    expect(lostSomething).toBe(true);
  });

  it('sim - kv commands and snapshots round-trip; duplicates are applied once', () => {
    const cmd = { clientId: 3, seq: 7, key: 2, value: 300007 };
    expect(decodePut(encodePut(cmd))).toEqual(cmd);
    const kv = new KvStore();
    expect(kv.apply(cmd)).toBe(true);
    expect(kv.apply(cmd)).toBe(false);
    expect(kv.apply({ ...cmd, seq: 6, value: 1 })).toBe(false);
    const { store, chain } = KvStore.decode(kv.encode(42));
    expect(chain).toBe(42);
    expect(store.get(2)).toBe(300007);
    expect(store.lastSeq.get(3)).toBe(7);
  });
});
