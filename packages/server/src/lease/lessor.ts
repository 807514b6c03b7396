import { type Backend, Table } from '../backend/backend.js';
import { keyBytes, keyString } from '../mvcc/keys.js';
import { LeaseExistsError, LeaseNotFoundError, LeaseTTLTooLargeError } from './errors.js';

/** Largest TTL etcd accepts, in seconds. */
export const MAX_LEASE_TTL = 9_000_000_000n;

/**
 * What revoking a lease needs from the key-value store, declared here so lease does not depend on mvcc: delete
 * the given keys in one write transaction (one revision), returning the revision after it.
 */
export type RangeDeleter = (keys: Uint8Array[]) => void;

/** A monotonic clock in milliseconds; injected so tests control time. */
export interface Clock {
  now(): number;
}

/** The replicated state of one lease plus this member's local expiry deadline. */
export class Lease {
  /** Keys attached to the lease (binary strings). Derived from the KV store; rebuilt on restart. */
  readonly keys = new Set<string>();
  /**
   * Local monotonic deadline in ms; Infinity while this member is not the primary (leader). Not replicated:
   * the applier never reads it.
   */
  expiry = Number.POSITIVE_INFINITY;

  constructor(
    readonly id: bigint,
    /** Granted TTL in seconds (after the minimum-TTL clamp). */
    readonly ttl: bigint,
    /** Remaining TTL in seconds recorded by the last checkpoint; 0 = none (use `ttl`). */
    public remainingTTL: bigint,
  ) {}
}

/**
 * The lessor: grants, revokes and renews leases and tracks which keys each lease owns.
 *
 * Two kinds of state live here, and they must not mix:
 * - replicated state (which leases exist, their TTLs, checkpointed remaining TTLs, attached keys) changes only
 *   through `grant`, `revoke`, `checkpoint` and the `attach`/`detach` calls the MVCC store makes while applying
 *   the log; it is persisted in the backend's Lease table in the same batch as the entry that changed it.
 * - local expiry deadlines exist only on the primary (the Raft leader, or the single member): `promote` sets
 *   them from the clock, `renew` extends them, `expired` lists the leases past their deadline. The primary
 *   proposes a LeaseRevoke for each expired lease; no member deletes anything on its own.
 */
export class Lessor {
  private readonly leases = new Map<bigint, Lease>();
  private primary = false;

  constructor(
    private readonly backend: Backend,
    private readonly clock: Clock,
    /** Minimum TTL in seconds that grants are raised to. */
    readonly minTTL: bigint,
    private readonly deleteKeys: () => RangeDeleter,
  ) {
    backend.scan(Table.Lease, undefined, undefined, (k, v) => {
      const id = k.readBigInt64BE(0);
      this.leases.set(id, new Lease(id, v.readBigInt64BE(0), v.length >= 16 ? v.readBigInt64BE(8) : 0n));
    });
  }

  // ------------------------------------------------------------------------------ replicated (apply path)

  /** Grants a lease. Must run inside a backend batch. */
  grant(id: bigint, ttl: bigint): Lease {
    if (this.leases.has(id)) throw new LeaseExistsError(id);
    if (ttl > MAX_LEASE_TTL) throw new LeaseTTLTooLargeError(ttl);
    const granted = ttl < this.minTTL ? this.minTTL : ttl;
    const lease = new Lease(id, granted, 0n);
    this.leases.set(id, lease);
    this.persist(lease);
    if (this.primary) lease.expiry = this.clock.now() + Number(granted) * 1000;
    return lease;
  }

  /** Revokes a lease and deletes its keys in one revision. Must run inside a backend batch. */
  revoke(id: bigint): void {
    const lease = this.leases.get(id);
    if (!lease) throw new LeaseNotFoundError(id);
    // Sorted so every member deletes in the same order (sub-revisions and event order must match).
    const keys = [...lease.keys].sort().map(keyBytes);
    if (keys.length > 0) this.deleteKeys()(keys);
    this.leases.delete(id);
    this.backend.del(Table.Lease, leaseKey(id));
  }

  /** Records checkpointed remaining TTLs. Must run inside a backend batch. */
  checkpoint(id: bigint, remainingTTL: bigint): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    lease.remainingTTL = remainingTTL;
    this.persist(lease);
  }

  attach(id: bigint, key: Uint8Array): void {
    this.leases.get(id)?.keys.add(keyString(key));
  }

  detach(id: bigint, key: Uint8Array): void {
    this.leases.get(id)?.keys.delete(keyString(key));
  }

  // ------------------------------------------------------------------------------ reads

  lookup(id: bigint): Lease | undefined {
    return this.leases.get(id);
  }

  exists(id: bigint): boolean {
    return this.leases.has(id);
  }

  ids(): bigint[] {
    return [...this.leases.keys()];
  }

  /** Remaining whole seconds of a lease on the primary (truncated, as etcd reports it); the granted TTL elsewhere. */
  remaining(lease: Lease): bigint {
    if (!Number.isFinite(lease.expiry)) return lease.remainingTTL > 0n ? lease.remainingTTL : lease.ttl;
    const ms = lease.expiry - this.clock.now();
    return ms <= 0 ? 0n : BigInt(Math.floor(ms / 1000));
  }

  // ------------------------------------------------------------------------------ local (primary only)

  get isPrimary(): boolean {
    return this.primary;
  }

  /**
   * Becomes the primary: every lease gets a deadline of now + its remaining TTL (checkpointed, else granted)
   * + `extendMs`, so that a restart or a leader change does not expire live sessions at once.
   */
  promote(extendMs: number): void {
    this.primary = true;
    const now = this.clock.now();
    for (const lease of this.leases.values()) {
      const ttl = lease.remainingTTL > 0n ? lease.remainingTTL : lease.ttl;
      lease.expiry = now + Number(ttl) * 1000 + extendMs;
    }
  }

  /** Stops being the primary: deadlines are forgotten. */
  demote(): void {
    this.primary = false;
    for (const lease of this.leases.values()) lease.expiry = Number.POSITIVE_INFINITY;
  }

  /**
   * Renews a lease (a keep-alive); returns the granted TTL, or 0n if the lease does not exist (etcd answers an
   * unknown or expired lease with TTL 0, not an error). Only the primary renews.
   */
  renew(id: bigint): bigint {
    const lease = this.leases.get(id);
    if (!lease) return 0n;
    if (this.primary) {
      // An expired lease whose revoke is in flight is not revived.
      if (lease.expiry <= this.clock.now()) return 0n;
      lease.expiry = this.clock.now() + Number(lease.ttl) * 1000;
    }
    return lease.ttl;
  }

  /** Leases past their deadline (primary only), most overdue first. */
  expired(limit = 1000): bigint[] {
    if (!this.primary) return [];
    const now = this.clock.now();
    return [...this.leases.values()]
      .filter((l) => l.expiry <= now)
      .sort((a, b) => a.expiry - b.expiry)
      .slice(0, limit)
      .map((l) => l.id);
  }

  /**
   * Remaining TTLs to checkpoint (primary only): leases whose remaining time differs from what was last
   * recorded. A lease renewed to its full TTL is recorded as 0 ("no checkpoint": restart from the grant).
   */
  checkpoints(): { id: bigint; remainingTTL: bigint }[] {
    if (!this.primary) return [];
    const out: { id: bigint; remainingTTL: bigint }[] = [];
    for (const lease of this.leases.values()) {
      const rem = this.remaining(lease);
      const target = rem < lease.ttl ? rem : 0n;
      if (target !== lease.remainingTTL) out.push({ id: lease.id, remainingTTL: target });
    }
    return out;
  }

  private persist(lease: Lease): void {
    const v = Buffer.allocUnsafe(16);
    v.writeBigInt64BE(lease.ttl, 0);
    v.writeBigInt64BE(lease.remainingTTL, 8);
    this.backend.put(Table.Lease, leaseKey(lease.id), v);
  }
}

function leaseKey(id: bigint): Buffer {
  const k = Buffer.allocUnsafe(8);
  k.writeBigInt64BE(id);
  return k;
}
