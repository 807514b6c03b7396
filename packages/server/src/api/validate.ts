import { EtcdError, type DeleteRangeRequest, type PutRequest, type RangeRequest, type RequestOp, type TxnRequest } from '@latchkey/proto';
import { keyString } from '../mvcc/keys.js';
import { WireStatusError } from './errors.js';

/**
 * Stateless request validation, done before anything is proposed, with etcd's errors. State-dependent checks
 * (leases, key existence, revisions) happen when the request is applied.
 */

export function checkRange(r: RangeRequest): void {
  if (r.key.length === 0) throw new WireStatusError(EtcdError.EmptyKey);
}

export function checkPut(r: PutRequest): void {
  if (r.key.length === 0) throw new WireStatusError(EtcdError.EmptyKey);
  if (r.ignoreValue && r.value.length !== 0) throw new WireStatusError(EtcdError.ValueProvided);
  if (r.ignoreLease && r.lease !== 0n) throw new WireStatusError(EtcdError.LeaseProvided);
}

export function checkDeleteRange(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw new WireStatusError(EtcdError.EmptyKey);
}

/**
 * Checks a transaction: at most `maxOps` entries in any of compare/success/failure (a max, not a sum; nested
 * transactions get the budget left by their parent), no empty keys, no empty ops, and no key written twice in a
 * branch (two puts, or a put inside a deleted range, across nested transactions too).
 */
export function checkTxn(r: TxnRequest, maxOps: number): void {
  checkTxnShape(r, maxOps);
  checkWrites(r.success);
  checkWrites(r.failure);
}

function checkTxnShape(r: TxnRequest, maxOps: number): void {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxOps) throw new WireStatusError(EtcdError.TooManyOps);
  for (const c of r.compare) if (c.key.length === 0) throw new WireStatusError(EtcdError.EmptyKey);
  for (const op of [...r.success, ...r.failure]) checkOp(op, maxOps - opc);
}

function checkOp(op: RequestOp, budget: number): void {
  if (op.requestRange) checkRange(op.requestRange);
  else if (op.requestPut) checkPut(op.requestPut);
  else if (op.requestDeleteRange) checkDeleteRange(op.requestDeleteRange);
  else if (op.requestTxn) checkTxnShape(op.requestTxn, budget);
  else throw new WireStatusError(EtcdError.KeyNotFound);
}

/** A deleted interval [start, end) of binary-string keys; end undefined = the single key `start`. */
interface Interval {
  start: string;
  end: string | undefined;
}

function intersects(dels: Interval[], key: string): boolean {
  // Range ends compare as plain byte strings here, as etcd's interval tree does (so a "\0" end is not "to the
  // end of the keyspace" for this check).
  return dels.some((d) => (d.end === undefined ? d.start === key : d.start <= key && key < d.end));
}

/** Returns the keys put and the ranges deleted by `ops` (recursively); throws on an overlap. */
function checkWrites(ops: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of ops) {
    const d = op.requestDeleteRange;
    if (d) dels.push({ start: keyString(d.key), end: d.rangeEnd.length > 0 ? keyString(d.rangeEnd) : undefined });
  }
  const puts = new Set<string>();
  for (const op of ops) {
    const t = op.requestTxn;
    if (!t) continue;
    const then = checkWrites(t.success);
    const otherwise = checkWrites(t.failure);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, k)) throw new WireStatusError(EtcdError.DuplicateKey);
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      // The two branches of one nested txn exclude each other, so they may write the same key.
      if (puts.has(k) && !then.puts.has(k)) throw new WireStatusError(EtcdError.DuplicateKey);
      if (intersects(dels, k)) throw new WireStatusError(EtcdError.DuplicateKey);
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    const p = op.requestPut;
    if (!p) continue;
    const k = keyString(p.key);
    if (puts.has(k) || intersects(dels, k)) throw new WireStatusError(EtcdError.DuplicateKey);
    puts.add(k);
  }
  return { puts, dels };
}
