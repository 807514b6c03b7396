/**
 * Crash test: a writer process keeps ~32 unique-key Puts in flight against one latchkey member; the test SIGKILLs
 * the member at seeded-random moments (counted in acknowledgements, so the kill lands while Puts are in flight),
 * every third time kills it again while it is recovering, restarts it on the same data dir, and after every restart checks
 * the store against the writer's ledger:
 *
 * - every acknowledged Put is present with its value and with mod_revision = create_revision = the acked revision;
 * - the store is exactly a prefix of history: the keys' mod revisions are exactly 2..header.revision, one per key
 *   (every Put creates a new key, so a lost, duplicated or half-applied write breaks this), and every key present
 *   holds the one value the writer ever puts there;
 * - the revision never goes backwards across restarts; acknowledged revisions are all distinct;
 * - the member accepts writes again after each restart.
 *
 * Replay a run with CRASH_SEED=<seed>; change the number of kills with CRASH_KILLS (default 8). The writer runs
 * from the build (test/dist/crash/writer.js): run `npx tsc -b` first.
 */
import { expect, test } from 'vitest';
import { KvClient, prefixEnd, utf8 } from '../harness/kv-client.js';
import type { MemberKind } from '../harness/processes.js';
import { Rng, seedFromEnv } from '../harness/random.js';
import { useMembers } from '../harness/vitest.js';
import { checkStore, type StoreCheck } from './check.js';
import { KEY_PREFIX } from './values.js';
import { WriterProcess } from './writer-process.js';

const members = useMembers();

const SEED = seedFromEnv('CRASH_SEED', 20_261_124);
const KILLS = Number(process.env['CRASH_KILLS'] ?? 8);
/** CRASH_KIND=etcd runs the same schedule against a real etcd, as a baseline for the checker. */
const KIND: MemberKind = process.env['CRASH_KIND'] === 'etcd' ? 'etcd' : 'latchkey';

interface KillRecord {
  cycle: number;
  ackedBefore: number;
  /** Puts sent but not settled (as read by the test) when the SIGKILL was sent. */
  inFlight: number;
  /** Of those, how many then failed: they were outstanding at the server when it died. */
  failedInFlight: number;
  /** Of the failed ones, how many were nevertheless applied (allowed: their outcome was unknown). */
  appliedAnyway: number;
  killedDuringRecovery: boolean;
  revisionAfterRestart: bigint;
}

test('crash - SIGKILL with puts in flight loses no acknowledged write and never moves the revision back', async () => {
  const rng = new Rng(SEED);
  const server = await members.start({ kind: KIND });
  const kv = new KvClient(server.endpoint);
  const writer = WriterProcess.start(server.endpoint);
  const kills: KillRecord[] = [];
  /** Highest revision seen so far: from acks and from the checker's own reads. */
  let maxRevision = 1n;
  const context = (): string => `seed ${SEED} (CRASH_SEED), ${writer.summary()}, server log ${server.logPath}`;

  try {
    await writer.waitFor('the first ack', () => writer.acks.size > 0, 20_000);
    for (let cycle = 1; cycle <= KILLS; cycle++) {
      // Let the writer get between 1 and 1500 further acks in (so also: the member accepts writes again), then kill.
      const ackedBefore = writer.acks.size + rng.between(1, 1_500);
      await writer.waitFor(`${ackedBefore} acks before kill #${cycle}`, () => writer.acks.size >= ackedBefore, 20_000);
      const inFlight = writer.unsettled();
      await server.kill('SIGKILL');
      expect(inFlight.size, `kill #${cycle} should land with puts in flight; ${context()}`).toBeGreaterThan(0);

      // Every third kill: start it and kill it again before it is ready, while it replays its log.
      const killedDuringRecovery = cycle % 3 === 0;
      if (killedDuringRecovery) {
        await server.restart({ waitHealthy: false });
        await pause(rng.between(0, 80)); // chaos schedule: where in recovery the second kill lands
        await server.kill('SIGKILL');
      }
      await server.restart();

      // Every put that was in flight at the kill settles (the connection dropped under it, or it was answered).
      await writer.waitFor(`the puts in flight at kill #${cycle} to settle`, () => [...inFlight].every((s) => writer.isSettled(s)), 15_000);
      const failedInFlight = [...inFlight].filter((s) => writer.failed.has(s));

      const state = await readAndCheck(kv, writer, `after kill #${cycle}`, context);
      expect(state.revision >= maxRevision, `revision went back after kill #${cycle}: ${state.revision} < ${maxRevision}; ${context()}`).toBe(true);
      maxRevision = state.revision;
      kills.push({
        cycle,
        ackedBefore,
        inFlight: inFlight.size,
        failedInFlight: failedInFlight.length,
        appliedAnyway: failedInFlight.filter((s) => state.presentSeqs.has(s)).length,
        killedDuringRecovery,
        revisionAfterRestart: state.revision,
      });
    }

    // After the last restart: writes are accepted, then the writer stops and the final state is checked in full.
    const target = writer.acks.size + 200;
    await writer.waitFor('200 acks after the last restart', () => writer.acks.size >= target, 20_000);
    await writer.stop();
    const final = await readAndCheck(kv, writer, 'after the writer stopped', context);
    expect(final.revision >= maxRevision, `revision went back: ${final.revision} < ${maxRevision}; ${context()}`).toBe(true);
    for (const seq of final.presentSeqs) {
      expect(seq < writer.sentCount, `key for seq ${seq} exists but was never sent; ${context()}`).toBe(true);
    }

    // Acknowledged revisions are distinct (each Put is its own revision).
    const revs = new Set([...writer.acks.values()].map((a) => a.rev));
    expect(revs.size, `acknowledged revisions are not distinct; ${context()}`).toBe(writer.acks.size);

    // At least some kills caught puts that were outstanding at the server (not only queued in a pipe).
    const caught = kills.reduce((n, k) => n + k.failedInFlight, 0);
    expect(caught, `no kill caught a put in flight: ${JSON.stringify(kills, bigintJson)}`).toBeGreaterThan(0);

    console.log(
      `crash (${KIND}): seed ${SEED}, ${kills.length} kills, ${writer.acks.size} acked / ${writer.failed.size} failed / ${writer.sentCount} sent, final revision ${final.revision}\n` +
        kills
          .map(
            (k) =>
              `  kill #${k.cycle}: after ${k.ackedBefore} acks, ${k.inFlight} in flight, ${k.failedInFlight} of them failed (${k.appliedAnyway} applied anyway)` +
              `${k.killedDuringRecovery ? ', killed again during recovery' : ''}, revision ${k.revisionAfterRestart} after restart`,
          )
          .join('\n'),
    );
  } finally {
    kv.close();
    await writer.kill();
  }
}, 120_000);

/**
 * Reads every writer key in one linearizable Range and checks it (see check.ts) against the acks the test had
 * read before sending the Range: those Puts completed before the Range started, so the server must show them.
 */
async function readAndCheck(kv: KvClient, writer: WriterProcess, what: string, context: () => string): Promise<StoreCheck> {
  const acked = [...writer.acks.values()];
  const key = utf8(KEY_PREFIX);
  const res = await kv.range({ key, rangeEnd: prefixEnd(key) }, { timeoutMs: 10_000 });
  const check = checkStore(acked, res);
  expect(check.problems.slice(0, 20), `store check ${what} at revision ${check.revision} (${check.problems.length} problems); ${context()}`).toEqual([]);
  return check;
}

/** A chaos-schedule delay (where the next fault lands), not a stand-in for waiting on something. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
