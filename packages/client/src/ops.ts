/**
 * Request-building for KV operations, shared by the plain calls (`client.get/put/delete`) and by transactions:
 * options as callers write them → etcd's wire requests, with the client's namespace applied to every key and range.
 */
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type Compare,
  type DeleteRangeRequest,
  type Init,
  type KeyValue,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
} from '@latchkey/proto';
import { type Bytes, concat, prefixEnd, toBytes } from './bytes.js';

/** Which keys an operation covers, besides the single key it names. */
export interface RangeSelector {
  /** Every key starting with the given key. */
  prefix?: boolean;
  /** Every key from the given key (inclusive) up to `end` (exclusive). */
  end?: Bytes;
  /** Every key greater than or equal to the given key. */
  fromKey?: boolean;
}

export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';
export type SortOrder = 'none' | 'ascend' | 'descend';

export interface GetOptions extends RangeSelector {
  /** Read at this revision (history read); 0/absent = the latest. */
  revision?: bigint;
  /** Serve from the member's local state without a quorum round trip (may be stale). */
  serializable?: boolean;
  limit?: number | bigint;
  sort?: { target?: SortTarget; order?: SortOrder };
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: bigint;
  maxModRevision?: bigint;
  minCreateRevision?: bigint;
  maxCreateRevision?: bigint;
}

export interface PutOptions {
  /** Attach the key to this lease (0n = none). */
  lease?: bigint;
  /** Return the previous key-value in the response. */
  prevKv?: boolean;
  /** Keep the current value (update the lease only). */
  ignoreValue?: boolean;
  /** Keep the current lease (update the value only). */
  ignoreLease?: boolean;
}

export interface DeleteOptions extends RangeSelector {
  prevKv?: boolean;
}

/** A key space view: `prefix` is prepended to every key sent and removed from every key received. */
export class Namespace {
  static readonly root = new Namespace(new Uint8Array(0));
  constructor(readonly prefix: Uint8Array) {}

  child(prefix: Bytes): Namespace {
    return new Namespace(concat(this.prefix, toBytes(prefix)));
  }

  key(k: Bytes): Uint8Array {
    return concat(this.prefix, toBytes(k));
  }

  /**
   * The wire range end for a selector on `key` (already namespaced by the caller): `\0` ("to the end") is bounded
   * by the namespace, so a namespaced client never sees keys outside its prefix.
   */
  rangeEnd(key: Uint8Array, sel: RangeSelector): Uint8Array {
    if (sel.prefix) {
      const userKey = key.subarray(this.prefix.length);
      return userKey.length === 0 && this.prefix.length > 0 ? prefixEnd(this.prefix) : prefixEnd(key);
    }
    if (sel.fromKey) return this.prefix.length > 0 ? prefixEnd(this.prefix) : Uint8Array.of(0);
    if (sel.end !== undefined) {
      const end = toBytes(sel.end);
      if (end.length === 1 && end[0] === 0) return this.prefix.length > 0 ? prefixEnd(this.prefix) : end;
      return concat(this.prefix, end);
    }
    return new Uint8Array(0);
  }

  /** `kv` with the namespace removed from its key (the value is not copied). */
  strip(kv: KeyValue): KeyValue {
    if (this.prefix.length === 0) return kv;
    return { ...kv, key: kv.key.subarray(this.prefix.length) };
  }

  stripKey(key: Uint8Array): Uint8Array {
    return this.prefix.length === 0 ? key : key.subarray(this.prefix.length);
  }
}

const SORT_TARGET: Record<SortTarget, RangeRequest_SortTarget> = {
  key: RangeRequest_SortTarget.KEY,
  version: RangeRequest_SortTarget.VERSION,
  create: RangeRequest_SortTarget.CREATE,
  mod: RangeRequest_SortTarget.MOD,
  value: RangeRequest_SortTarget.VALUE,
};
const SORT_ORDER: Record<SortOrder, RangeRequest_SortOrder> = {
  none: RangeRequest_SortOrder.NONE,
  ascend: RangeRequest_SortOrder.ASCEND,
  descend: RangeRequest_SortOrder.DESCEND,
};

export function rangeRequest(ns: Namespace, key: Bytes, o: GetOptions = {}): Init<RangeRequest> {
  const k = ns.key(key);
  return {
    key: k,
    rangeEnd: ns.rangeEnd(k, o),
    limit: o.limit === undefined ? 0n : BigInt(o.limit),
    revision: o.revision ?? 0n,
    sortOrder: SORT_ORDER[o.sort?.order ?? 'none'],
    sortTarget: SORT_TARGET[o.sort?.target ?? 'key'],
    serializable: o.serializable ?? false,
    keysOnly: o.keysOnly ?? false,
    countOnly: o.countOnly ?? false,
    minModRevision: o.minModRevision ?? 0n,
    maxModRevision: o.maxModRevision ?? 0n,
    minCreateRevision: o.minCreateRevision ?? 0n,
    maxCreateRevision: o.maxCreateRevision ?? 0n,
  };
}

export function putRequest(ns: Namespace, key: Bytes, value: Bytes, o: PutOptions = {}): Init<PutRequest> {
  return {
    key: ns.key(key),
    value: toBytes(value),
    lease: o.lease ?? 0n,
    prevKv: o.prevKv ?? false,
    ignoreValue: o.ignoreValue ?? false,
    ignoreLease: o.ignoreLease ?? false,
  };
}

export function deleteRequest(ns: Namespace, key: Bytes, o: DeleteOptions = {}): Init<DeleteRangeRequest> {
  const k = ns.key(key);
  return { key: k, rangeEnd: ns.rangeEnd(k, o), prevKv: o.prevKv ?? false };
}

// ---- Transactions --------------------------------------------------------------------------------------------

export type CompareOp = '=' | '!=' | '>' | '<';
const RESULT: Record<CompareOp, Compare_CompareResult> = {
  '=': Compare_CompareResult.EQUAL,
  '!=': Compare_CompareResult.NOT_EQUAL,
  '>': Compare_CompareResult.GREATER,
  '<': Compare_CompareResult.LESS,
};

/** A txn condition, namespaced when the txn is sent. Build with {@link Cmp}. */
export interface Condition {
  readonly build: (ns: Namespace) => Init<Compare>;
}

type Target = 'version' | 'createRevision' | 'modRevision' | 'lease';
const TARGET: Record<Target | 'value', Compare_CompareTarget> = {
  version: Compare_CompareTarget.VERSION,
  createRevision: Compare_CompareTarget.CREATE,
  modRevision: Compare_CompareTarget.MOD,
  lease: Compare_CompareTarget.LEASE,
  value: Compare_CompareTarget.VALUE,
};

function numeric(target: Target, key: Bytes, op: CompareOp, n: bigint | number, sel?: RangeSelector): Condition {
  return {
    build: (ns) => {
      const k = ns.key(key);
      return { key: k, rangeEnd: sel ? ns.rangeEnd(k, sel) : undefined, result: RESULT[op], target: TARGET[target], [target]: BigInt(n) };
    },
  };
}

/**
 * Txn conditions, as etcd's `Compare`: `Cmp.version('k', '=', 0)` holds when the key does not exist;
 * `Cmp.createRevision(key, '=', rev)` is the ownership check the lock recipes use. A `RangeSelector` compares
 * every key in a range (all must satisfy it).
 */
export const Cmp = {
  value: (key: Bytes, op: CompareOp, value: Bytes, sel?: RangeSelector): Condition => ({
    build: (ns) => {
      const k = ns.key(key);
      return { key: k, rangeEnd: sel ? ns.rangeEnd(k, sel) : undefined, result: RESULT[op], target: TARGET.value, value: toBytes(value) };
    },
  }),
  version: (key: Bytes, op: CompareOp, n: bigint | number, sel?: RangeSelector) => numeric('version', key, op, n, sel),
  createRevision: (key: Bytes, op: CompareOp, n: bigint | number, sel?: RangeSelector) => numeric('createRevision', key, op, n, sel),
  modRevision: (key: Bytes, op: CompareOp, n: bigint | number, sel?: RangeSelector) => numeric('modRevision', key, op, n, sel),
  lease: (key: Bytes, op: CompareOp, n: bigint | number, sel?: RangeSelector) => numeric('lease', key, op, n, sel),
  /** Holds when `key` does not exist. */
  absent: (key: Bytes) => numeric('createRevision', key, '=', 0n),
  /** Holds when `key` exists. */
  present: (key: Bytes) => numeric('createRevision', key, '>', 0n),
} as const;

/** A txn operation, namespaced when the txn is sent. Build with {@link Op}. */
export interface Operation {
  readonly build: (ns: Namespace) => Init<RequestOp>;
}

export const Op = {
  get: (key: Bytes, o?: GetOptions): Operation => ({ build: (ns) => ({ requestRange: rangeRequest(ns, key, o) }) }),
  put: (key: Bytes, value: Bytes, o?: PutOptions): Operation => ({ build: (ns) => ({ requestPut: putRequest(ns, key, value, o) }) }),
  delete: (key: Bytes, o?: DeleteOptions): Operation => ({ build: (ns) => ({ requestDeleteRange: deleteRequest(ns, key, o) }) }),
  /** A nested transaction (etcd ≥ 3.3). */
  txn: (conditions: readonly Condition[], success: readonly Operation[], failure: readonly Operation[] = []): Operation => ({
    build: (ns) => ({
      requestTxn: {
        compare: conditions.map((c) => c.build(ns)),
        success: success.map((o) => o.build(ns)),
        failure: failure.map((o) => o.build(ns)),
      },
    }),
  }),
} as const;
