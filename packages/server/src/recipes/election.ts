import {
  Compare_CompareResult as Result,
  Compare_CompareTarget as Target,
  Event_EventType,
  type KeyValue,
  type ResponseHeader,
} from '@latchkey/proto';
import { RecipeError } from './errors.js';
import type { RecipeKV } from './port.js';
import { firstCreated, ownKey, queuePrefix, sessionLease, throwIfAborted, waitDeletes } from './wait.js';

/**
 * etcd's election (server-side `v3election`): candidates queue under `<name>/` like lock waiters, with their
 * value in the key; the leader is the key with the lowest create revision. A `LeaderKey` (name, key, create
 * revision, lease) travels back and forth so that the stateless server can act for the leader later: proclaim
 * and resign are txns guarded by "the key still has this create revision", so they cannot clobber a successor.
 */

export interface LeaderKey {
  name: Uint8Array;
  key: Uint8Array;
  /** create revision of `key`: the leadership's epoch */
  rev: bigint;
  lease: bigint;
}

export interface LeaderState {
  readonly header: ResponseHeader;
  readonly kv: KeyValue;
}

/**
 * Joins the election with `value` and waits to lead. Resolves with the header of the joining txn and the leader
 * key. If this lease already has a candidate key with another value, the value is proclaimed first. If `signal`
 * aborts while waiting, the candidacy is withdrawn (resigned); a wait that fails otherwise leaves the key.
 */
export async function campaign(
  kv: RecipeKV,
  name: Uint8Array,
  lease: bigint,
  value: Uint8Array,
  signal: AbortSignal,
): Promise<{ header: ResponseHeader; leader: LeaderKey }> {
  const id = await sessionLease(kv, lease);
  const prefix = queuePrefix(name);
  const key = ownKey(prefix, id);
  const resp = await kv.txn({
    compare: [{ key, target: Target.CREATE, result: Result.EQUAL, createRevision: 0n }],
    success: [{ requestPut: { key, value, lease: id } }],
    failure: [{ requestRange: { key } }],
  });
  const leader: LeaderKey = { name, key, rev: resp.header!.revision, lease: id };
  if (!resp.succeeded) {
    const existing = resp.responses[0]!.responseRange!.kvs[0]!;
    leader.rev = existing.createRevision;
    if (!Buffer.from(existing.value).equals(value)) {
      try {
        await proclaim(kv, leader, value);
      } catch (err) {
        await resign(kv, leader).catch(() => undefined);
        throw err;
      }
    }
  }
  try {
    await waitDeletes(kv, prefix, leader.rev - 1n, signal);
  } catch (err) {
    if (signal.aborted) await resign(kv, leader).catch(() => undefined);
    throw err;
  }
  return { header: resp.header!, leader };
}

/** Sets the leader's value, if `leader` still leads (else `ElectionNotLeader`). The key is re-put with the leader's lease. */
export async function proclaim(kv: RecipeKV, leader: LeaderKey, value: Uint8Array): Promise<ResponseHeader> {
  const id = await sessionLease(kv, leader.lease);
  const resp = await kv.txn({
    compare: [{ key: leader.key, target: Target.CREATE, result: Result.EQUAL, createRevision: leader.rev }],
    success: [{ requestPut: { key: leader.key, value, lease: id } }],
  });
  if (!resp.succeeded) throw new RecipeError('ElectionNotLeader');
  return resp.header!;
}

/** Gives up leadership (or candidacy): deletes the key if it still has the leader's create revision. Never fails for a stale key. */
export async function resign(kv: RecipeKV, leader: LeaderKey): Promise<ResponseHeader> {
  await sessionLease(kv, leader.lease);
  const resp = await kv.txn({
    compare: [{ key: leader.key, target: Target.CREATE, result: Result.EQUAL, createRevision: leader.rev }],
    success: [{ requestDeleteRange: { key: leader.key } }],
  });
  return resp.header!;
}

/** The current leader's key-value (`ElectionNoLeader` if there is none). */
export async function leader(kv: RecipeKV, name: Uint8Array): Promise<LeaderState> {
  const resp = await kv.range(firstCreated(queuePrefix(name)));
  const kv0 = resp.kvs[0];
  if (!kv0) throw new RecipeError('ElectionNoLeader');
  return { header: resp.header!, kv: kv0 };
}

/**
 * The leader, then every change: each value the leader proclaims, and each new leader after a leader's key goes.
 * With no leader it waits for the first candidate; it never reports "no leader" (as etcd's Observe).
 *
 * Ends when `signal` aborts (throwing `CanceledError`) or when a read or watch fails (throwing that error; etcd's
 * service then ends the stream without error).
 */
export async function* observe(kv: RecipeKV, name: Uint8Array, signal: AbortSignal): AsyncGenerator<LeaderState> {
  const prefix = queuePrefix(name);
  for (;;) {
    throwIfAborted(signal);
    const resp = await kv.range(firstCreated(prefix));
    let current: LeaderState | undefined = resp.kvs[0] ? { header: resp.header!, kv: resp.kvs[0] } : undefined;
    if (!current) {
      // Nobody leads: the first key put under the prefix will.
      wait: for await (const batch of kv.watch({ key: prefix, rangeEnd: prefixEndOf(prefix), startRevision: resp.header!.revision }, signal)) {
        for (const ev of batch.events) {
          if (ev.type !== Event_EventType.PUT) continue;
          current = { header: { ...batch.header, revision: ev.kv!.modRevision }, kv: ev.kv! };
          break wait;
        }
      }
      if (!current) return;
    }
    yield current;
    let deleted = false;
    follow: for await (const batch of kv.watch({ key: current.kv.key, startRevision: current.header.revision + 1n }, signal)) {
      for (const ev of batch.events) {
        if (ev.type === Event_EventType.DELETE) {
          deleted = true;
          break follow;
        }
        yield { header: batch.header, kv: ev.kv! };
      }
    }
    if (!deleted) return;
  }
}

function prefixEndOf(prefix: Uint8Array): Uint8Array {
  return firstCreated(prefix).rangeEnd!;
}
