import {
  Compare_CompareResult as Result,
  Compare_CompareTarget as Target,
  RangeRequest_SortOrder as SortOrder,
  RangeRequest_SortTarget as SortTarget,
  type Compare,
  type DeleteRangeResponse,
  type KeyValue,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
  type DeleteRangeRequest,
} from '@latchkey/proto';
import { CompactedError, FutureRevisionError } from '../mvcc/errors.js';
import type { KVStore, RangeOptions, RangeResult, WriteTxn } from '../mvcc/store.js';
import { LeaseNotFoundError } from '../lease/errors.js';
import { KeyNotFoundError } from './errors.js';

/**
 * The semantics of etcd's KV requests over the MVCC store: range filtering and sorting, put with ignore_value /
 * ignore_lease, delete with prev_kv, and transactions (compares evaluated against the state before the
 * transaction, nested transactions included; requests checked before anything is written; one revision for all
 * of a transaction's changes). Stateless validation (empty keys, op limits, duplicate keys) happens earlier, in
 * api/validate.ts, before a request is proposed.
 *
 * Response headers built here carry only `revision`; the API layer fills cluster, member and term on the
 * top-level header.
 */

/** Something a Range can read from: a committed view or an open write transaction. */
export interface ReadView {
  range(key: Uint8Array, end: Uint8Array, opts: RangeOptions): RangeResult;
}

/** What the KV semantics need to know about leases. */
export interface LeaseCheck {
  exists(id: bigint): boolean;
}

export function executeRange(view: ReadView, r: RangeRequest): RangeResponse {
  const filtered = r.minModRevision !== 0n || r.maxModRevision !== 0n || r.minCreateRevision !== 0n || r.maxCreateRevision !== 0n;
  let order = r.sortOrder;
  if (r.sortTarget !== SortTarget.KEY && order === SortOrder.NONE) order = SortOrder.ASCEND;
  // One extra key tells whether there are more.
  const limit = r.limit > 0n ? Number(r.limit) + 1 : 0;
  const byRevision = r.sortTarget === SortTarget.CREATE || r.sortTarget === SortTarget.MOD;
  let kvs: KeyValue[];
  let rr: RangeResult;
  // etcd fetches everything only when the request itself asks for an order or a filter; a sort target without an
  // order sorts just the first limit+1 keys (by key). That quirk is kept: clients compare against it.
  const wholeRange = r.sortOrder !== SortOrder.NONE || filtered;
  if (wholeRange && (byRevision || (r.sortTarget === SortTarget.KEY && order !== SortOrder.DESCEND))) {
    // Revision filters and orders (and key order, the index's own) are settled in the key index, so only the
    // values returned are read: the lock and election recipes' "first/last created under a prefix" reads one.
    const pick = {
      minModRevision: r.minModRevision,
      maxModRevision: r.maxModRevision,
      minCreateRevision: r.minCreateRevision,
      maxCreateRevision: r.maxCreateRevision,
      sortBy: byRevision ? (r.sortTarget === SortTarget.CREATE ? 'create' : 'mod') : undefined,
      descend: order === SortOrder.DESCEND,
    } as const;
    rr = view.range(r.key, r.rangeEnd, { rev: r.revision, limit, countOnly: r.countOnly, pick });
    kvs = rr.kvs;
  } else {
    // Sorting by version or value, keys descending, or no order asked: the matches are fetched, filtered, sorted.
    rr = view.range(r.key, r.rangeEnd, { rev: r.revision, limit: wholeRange ? 0 : limit, countOnly: r.countOnly });
    kvs = rr.kvs;
    if (r.maxModRevision !== 0n) kvs = kvs.filter((kv) => kv.modRevision <= r.maxModRevision);
    if (r.minModRevision !== 0n) kvs = kvs.filter((kv) => kv.modRevision >= r.minModRevision);
    if (r.maxCreateRevision !== 0n) kvs = kvs.filter((kv) => kv.createRevision <= r.maxCreateRevision);
    if (r.minCreateRevision !== 0n) kvs = kvs.filter((kv) => kv.createRevision >= r.minCreateRevision);
    if (order !== SortOrder.NONE) {
      const cmp = comparator(r.sortTarget);
      // Stable sort: ties keep key order (Go's sort agrees for the small inputs clients compare against).
      kvs = [...kvs].sort(order === SortOrder.DESCEND ? (a, b) => cmp(b, a) : cmp);
    }
  }
  let more = false;
  if (r.limit > 0n && kvs.length > Number(r.limit)) {
    kvs = kvs.slice(0, Number(r.limit));
    more = true;
  }
  if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: new Uint8Array(0) }));
  return { header: { clusterId: 0n, memberId: 0n, revision: rr.rev, raftTerm: 0n }, kvs: r.countOnly ? [] : kvs, more, count: BigInt(rr.count) };
}

function comparator(target: SortTarget): (a: KeyValue, b: KeyValue) => number {
  const num = (f: (kv: KeyValue) => bigint) => (a: KeyValue, b: KeyValue) => {
    const x = f(a);
    const y = f(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
  switch (target) {
    case SortTarget.VERSION:
      return num((kv) => kv.version);
    case SortTarget.CREATE:
      return num((kv) => kv.createRevision);
    case SortTarget.MOD:
      return num((kv) => kv.modRevision);
    case SortTarget.VALUE:
      return (a, b) => Buffer.compare(a.value, b.value);
    default:
      return (a, b) => Buffer.compare(a.key, b.key);
  }
}

/** Checks the state-dependent preconditions of a put (before anything is written). */
export function checkPut(view: ReadView, leases: LeaseCheck, p: PutRequest): void {
  if (p.ignoreValue || p.ignoreLease) {
    const rr = view.range(p.key, new Uint8Array(0), { rev: 0n, limit: 1, countOnly: false });
    if (rr.kvs.length === 0) throw new KeyNotFoundError();
  }
  if (p.lease !== 0n && !leases.exists(p.lease)) throw new LeaseNotFoundError(p.lease);
}

export function executePut(txn: WriteTxn, p: PutRequest): PutResponse {
  let value = p.value;
  let lease = p.lease;
  if (p.ignoreValue || p.ignoreLease) {
    const prev = txn.get(p.key);
    if (!prev) throw new KeyNotFoundError();
    if (p.ignoreValue) value = prev.value;
    if (p.ignoreLease) lease = prev.lease;
  }
  const change = txn.put(p.key, value, lease);
  const resp: PutResponse = { header: { clusterId: 0n, memberId: 0n, revision: txn.viewRev, raftTerm: 0n } };
  if (p.prevKv && change.prev) resp.prevKv = change.prev;
  return resp;
}

export function executeDeleteRange(txn: WriteTxn, d: DeleteRangeRequest): DeleteRangeResponse {
  const changes = txn.deleteRange(d.key, d.rangeEnd);
  return {
    header: { clusterId: 0n, memberId: 0n, revision: txn.viewRev, raftTerm: 0n },
    deleted: BigInt(changes.length),
    prevKvs: d.prevKv ? changes.map((c) => c.prev!) : [],
  };
}

/** Whether a txn request (recursively) contains any write. */
export function isTxnReadOnly(t: TxnRequest): boolean {
  const ro = (ops: RequestOp[]) =>
    ops.every((op) => (op.requestPut || op.requestDeleteRange ? false : op.requestTxn ? isTxnReadOnly(op.requestTxn) : true));
  return ro(t.success) && ro(t.failure);
}

/**
 * The branch every (nested) transaction takes, decided against `view` before anything is written, in
 * depth-first order: [outer, nested in executed branch order…].
 */
function decidePath(view: ReadView, t: TxnRequest): boolean[] {
  const ok = t.compare.every((c) => evaluateCompare(view, c));
  const path = [ok];
  for (const op of ok ? t.success : t.failure) {
    if (op.requestTxn) path.push(...decidePath(view, op.requestTxn));
  }
  return path;
}

/** Runs the precondition checks for every op on the decided path. */
function checkPath(view: ReadView, leases: LeaseCheck, t: TxnRequest, path: boolean[], pos: { i: number }, currentRev: bigint, compactRev: bigint): void {
  const ok = path[pos.i++]!;
  for (const op of ok ? t.success : t.failure) {
    if (op.requestRange) {
      const rev = op.requestRange.revision;
      if (rev > currentRev) throw new FutureRevisionError(currentRev);
      if (rev > 0n && rev < compactRev) throw new CompactedError(compactRev);
    } else if (op.requestPut) {
      checkPut(view, leases, op.requestPut);
    } else if (op.requestTxn) {
      checkPath(view, leases, op.requestTxn, path, pos, currentRev, compactRev);
    }
  }
}

/**
 * Executes a transaction. Read-only transactions run against the committed state (`txn` may then be a view
 * that cannot write). Throws before writing anything if a precondition fails.
 */
export function executeTxn(store: KVStore, txn: WriteTxn, leases: LeaseCheck, t: TxnRequest): TxnResponse {
  const path = decidePath(txn, t);
  checkPath(txn, leases, t, path, { i: 0 }, store.currentRev, store.compactRev);
  const resp = runPath(txn, t, path, { i: 0 });
  resp.header = { clusterId: 0n, memberId: 0n, revision: txn.viewRev, raftTerm: 0n };
  return resp;
}

function runPath(txn: WriteTxn, t: TxnRequest, path: boolean[], pos: { i: number }): TxnResponse {
  const ok = path[pos.i++]!;
  const responses: ResponseOp[] = [];
  for (const op of ok ? t.success : t.failure) {
    if (op.requestRange) responses.push({ responseRange: executeRange(txn, op.requestRange) });
    else if (op.requestPut) responses.push({ responsePut: executePut(txn, op.requestPut) });
    else if (op.requestDeleteRange) responses.push({ responseDeleteRange: executeDeleteRange(txn, op.requestDeleteRange) });
    else if (op.requestTxn) {
      const nested = runPath(txn, op.requestTxn, path, pos);
      // etcd leaves nested transaction headers empty.
      nested.header = { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };
      responses.push({ responseTxn: nested });
    } else responses.push({});
  }
  return { succeeded: ok, responses };
}

/**
 * Evaluates one compare. A missing key compares as an all-zero KeyValue, except that VALUE compares on a
 * missing key are always false. With range_end, every key in the range must satisfy the compare.
 */
export function evaluateCompare(view: ReadView, c: Compare): boolean {
  const rr = view.range(c.key, c.rangeEnd, { rev: 0n, limit: 0, countOnly: false });
  if (rr.kvs.length === 0) {
    if (c.target === Target.VALUE) return false;
    return compareOne(undefined, c);
  }
  return rr.kvs.every((kv) => compareOne(kv, c));
}

function compareOne(kv: KeyValue | undefined, c: Compare): boolean {
  let r: number;
  switch (c.target) {
    case Target.VALUE: {
      if (!kv) return false;
      r = Buffer.compare(Buffer.from(kv.value), Buffer.from(c.value ?? new Uint8Array(0)));
      break;
    }
    case Target.CREATE:
      r = cmpBig(kv?.createRevision ?? 0n, c.createRevision ?? 0n);
      break;
    case Target.MOD:
      r = cmpBig(kv?.modRevision ?? 0n, c.modRevision ?? 0n);
      break;
    case Target.LEASE:
      r = cmpBig(kv?.lease ?? 0n, c.lease ?? 0n);
      break;
    case Target.VERSION:
    default:
      r = cmpBig(kv?.version ?? 0n, c.version ?? 0n);
      break;
  }
  switch (c.result) {
    case Result.EQUAL:
      return r === 0;
    case Result.GREATER:
      return r > 0;
    case Result.LESS:
      return r < 0;
    case Result.NOT_EQUAL:
      return r !== 0;
    default:
      return false;
  }
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
