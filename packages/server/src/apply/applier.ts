import { performance } from 'node:perf_hooks';
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  internalpb,
  type AlarmMember,
  type LeaseGrantResponse,
  type ResponseHeader,
} from '@latchkey/proto';
import { type Backend, Table } from '../backend/backend.js';
import type { Lessor } from '../lease/lessor.js';
import type { Change, KVStore } from '../mvcc/store.js';
import { MvccError } from '../mvcc/errors.js';
import { LeaseError } from '../lease/errors.js';
import { checkPut, executeDeleteRange, executePut, executeTxn, isTxnReadOnly } from './kv.js';
import { BadEntryError, CorruptClusterError, KeyNotFoundError } from './errors.js';
import { AlarmStore } from './alarms.js';
import { NoSpaceError } from '../mvcc/errors.js';
import { AuthError } from '../auth/store.js';
import type { AuthGuard, AuthInfo } from '../auth/guard.js';

/** The part of a Raft log entry the applier reads (structurally the raft core's Entry). */
export interface LogEntry {
  readonly index: number;
  readonly term: number;
  /** 0 = normal, 1 = configuration change */
  readonly type: number;
  readonly data: Uint8Array;
}

/** The outcome of one applied request, delivered to whoever proposed it (matched by request id). */
export interface ApplyResult {
  readonly id: bigint;
  readonly response?: unknown;
  readonly error?: Error;
}

/** All changes of one store revision, in the order they were made. */
export interface RevisionChanges {
  readonly rev: bigint;
  readonly changes: readonly Change[];
}

/**
 * Applies a configuration-change entry to the replicated membership table (inside the apply batch) and returns
 * the result for the request that proposed it, if any. Supplied by the node layer, which also applies the change
 * to Raft itself.
 */
export type ConfChangeApplier = (entry: LogEntry) => ApplyResult | undefined;

const META_APPLIED = Buffer.from('consistentIndex');
const META_CLUSTER = Buffer.from('clusterId');

/**
 * The deterministic applier: turns committed log entries into state changes of the MVCC store, the lessor and
 * the cluster tables.
 *
 * Contract:
 * - Deterministic: the same entries in the same order give the same state on every member. No clock, no
 *   randomness, no member-local configuration is read here (ids that need randomness are chosen by the proposer
 *   and travel in the entry).
 * - One backend batch per `apply` call; the applied index is written in the same batch, so replaying the log
 *   after a crash skips exactly the entries already applied (`entry.index <= appliedIndex`).
 * - A request that fails validation against the current state (unknown lease, compacted revision, …) produces an
 *   error result and changes nothing. Any other failure is a bug or a storage fault and is rethrown: the caller
 *   must stop the process, since memory and disk may no longer agree.
 * - Watchers are told about changes only after the batch has committed (`onCommit`).
 */
export class Applier {
  private _appliedIndex: number;
  private _appliedTerm = 0;
  private pending: RevisionChanges[] = [];
  readonly alarms: AlarmStore;

  constructor(
    private readonly backend: Backend,
    private readonly store: KVStore,
    private readonly lessor: Lessor,
    private readonly onCommit: (revs: RevisionChanges[]) => void,
    private readonly auth: AuthGuard,
    private readonly confChange: ConfChangeApplier = () => undefined,
    /** Told how long each backend batch took to apply and commit, in seconds (metrics). */
    private readonly onBatch: (seconds: number) => void = () => undefined,
    /** Records a member's published name and client URLs (inside the apply batch). */
    private readonly memberAttributes?: (id: bigint, name: string, clientURLs: string[]) => void,
  ) {
    this.alarms = new AlarmStore(backend);
    const v = backend.get(Table.Meta, META_APPLIED);
    this._appliedIndex = v ? Number(v.readBigUInt64BE(0)) : 0;
    this._appliedTerm = v && v.length >= 16 ? Number(v.readBigUInt64BE(8)) : 0;
  }

  /** Index of the last applied entry (durable with the data it produced). */
  get appliedIndex(): number {
    return this._appliedIndex;
  }

  get appliedTerm(): number {
    return this._appliedTerm;
  }

  /** The cluster id recorded by the first member, or 0n before it is. */
  clusterId(): bigint {
    const v = this.backend.get(Table.Meta, META_CLUSTER);
    return v ? v.readBigUInt64BE(0) : 0n;
  }

  /** Records an applied index at bootstrap (the initial snapshot point); must run inside a backend batch. */
  recordApplied(index: number, term: number): void {
    const v = Buffer.allocUnsafe(16);
    v.writeBigUInt64BE(BigInt(index), 0);
    v.writeBigUInt64BE(BigInt(term), 8);
    this.backend.put(Table.Meta, META_APPLIED, v);
    this._appliedIndex = index;
    this._appliedTerm = term;
  }

  /** Records the cluster id at bootstrap; must run inside a backend batch. */
  recordClusterId(id: bigint): void {
    const v = Buffer.allocUnsafe(8);
    v.writeBigUInt64BE(id);
    this.backend.put(Table.Meta, META_CLUSTER, v);
  }

  activeAlarms(): readonly AlarmMember[] {
    return this.alarms.all();
  }

  /** Deletes keys in one revision on behalf of the lessor (lease revoke or expiry). */
  readonly deleteKeys = (keys: Uint8Array[]): void => {
    const txn = this.store.write();
    for (const k of keys) txn.deleteRange(k, new Uint8Array(0));
    this.finish(txn.end(), txn.changes);
  };

  /** Applies committed entries in order and returns the results of the requests among them. */
  apply(entries: readonly LogEntry[]): ApplyResult[] {
    const results: ApplyResult[] = [];
    const fresh = entries.filter((e) => e.index > this._appliedIndex);
    if (fresh.length === 0) return results;
    const t0 = performance.now();
    // Deferred: after a restart the write-ahead log hands these entries out again (see Backend.deferredBatch).
    this.backend.deferredBatch(() => {
      for (const e of fresh) {
        if (e.index !== this._appliedIndex + 1) {
          throw new Error(`apply: entry ${e.index} does not follow applied index ${this._appliedIndex}`);
        }
        if (e.type === 1) {
          const r = this.confChange(e);
          if (r) results.push(r);
        } else if (e.data.length > 0) {
          const r = this.applyRequest(e);
          if (r) results.push(r);
        }
        this._appliedIndex = e.index;
        this._appliedTerm = e.term;
      }
      const v = Buffer.allocUnsafe(16);
      v.writeBigUInt64BE(BigInt(this._appliedIndex), 0);
      v.writeBigUInt64BE(BigInt(this._appliedTerm), 8);
      this.backend.put(Table.Meta, META_APPLIED, v);
    });
    this.onBatch((performance.now() - t0) / 1000);
    if (this.pending.length > 0) {
      const revs = this.pending;
      this.pending = [];
      this.onCommit(revs);
    }
    return results;
  }

  private applyRequest(e: LogEntry): ApplyResult | undefined {
    let req: internalpb.InternalRaftRequest;
    try {
      req = internalpb.InternalRaftRequest.decode(e.data);
    } catch (err) {
      throw new BadEntryError(e.index, { cause: err });
    }
    try {
      return { id: req.id, response: this.dispatch(req) };
    } catch (err) {
      if (err instanceof MvccError || err instanceof LeaseError || err instanceof KeyNotFoundError || err instanceof AuthError || err instanceof CorruptClusterError) {
        return { id: req.id, error: err };
      }
      throw err;
    }
  }

  private header(): ResponseHeader {
    return { clusterId: 0n, memberId: 0n, revision: this.store.currentRev, raftTerm: 0n };
  }

  /**
   * Who a client request came from, checked against the auth state at this point of the log; undefined for
   * requests the server proposed itself and while auth is off.
   */
  private requester(req: internalpb.InternalRaftRequest): AuthInfo | undefined {
    if (req.system || !this.auth.store.enabled) return undefined;
    if (req.username === '') throw new AuthError('UserEmpty');
    const ai = { user: req.username, revision: req.authRevision };
    this.auth.checkRevision(ai);
    return ai;
  }

  private dispatch(req: internalpb.InternalRaftRequest): unknown {
    const auth = this.auth;
    const store = auth.store;
    // With CORRUPT raised, no write is applied any more (reads are served outside the log), as in etcd.
    if (this.alarms.has(AlarmType.CORRUPT) && (req.put || req.deleteRange || (req.txn && !isTxnReadOnly(req.txn)) || req.compaction || req.leaseGrant || req.leaseRevoke)) {
      throw new CorruptClusterError();
    }
    // Over quota (NOSPACE raised), the store takes no new data: puts, writing transactions and lease grants fail.
    if (this.alarms.has(AlarmType.NOSPACE) && (req.put || req.leaseGrant || (req.txn && !isTxnReadOnly(req.txn)))) {
      throw new NoSpaceError();
    }
    if (req.put) {
      const ai = this.requester(req);
      auth.checkPut(ai, req.put);
      const txn = this.store.write();
      return this.guard(txn, () => {
        checkPut(txn, this.lessor, req.put!);
        return executePut(txn, req.put!);
      });
    }
    if (req.deleteRange) {
      auth.checkDeleteRange(this.requester(req), req.deleteRange);
      const txn = this.store.write();
      return this.guard(txn, () => executeDeleteRange(txn, req.deleteRange!));
    }
    if (req.txn) {
      auth.checkTxn(this.requester(req), req.txn);
      const txn = this.store.write();
      return this.guard(txn, () => executeTxn(this.store, txn, this.lessor, req.txn!));
    }
    if (req.compaction) {
      this.requester(req);
      this.store.compact(req.compaction.revision);
      return { header: this.header() };
    }
    if (req.leaseGrant) {
      this.requester(req);
      const lease = this.lessor.grant(req.leaseGrant.ID, req.leaseGrant.TTL);
      const resp: LeaseGrantResponse = { header: this.header(), ID: lease.id, TTL: lease.ttl, error: '' };
      return resp;
    }
    if (req.leaseRevoke) {
      const ai = this.requester(req);
      const lease = this.lessor.lookup(req.leaseRevoke.ID);
      if (lease) auth.checkLeaseRevoke(ai, [...lease.keys].map((k) => Buffer.from(k, 'latin1')));
      this.lessor.revoke(req.leaseRevoke.ID);
      return { header: this.header() };
    }
    if (req.leaseCheckpoint) {
      for (const c of req.leaseCheckpoint.checkpoints) this.lessor.checkpoint(c.ID, c.remainingTTL);
      return { header: this.header() };
    }
    if (req.memberAttributes) {
      const a = req.memberAttributes;
      this.memberAttributes?.(a.memberId, a.name, a.clientUrls);
      return {};
    }
    if (req.clusterMeta) {
      if (!this.backend.get(Table.Meta, META_CLUSTER)) this.recordClusterId(req.clusterMeta.clusterId);
      return {};
    }
    if (req.alarm) {
      const a = req.alarm;
      if (!req.system) auth.requireAdmin(this.requester(req));
      if (a.action === AlarmRequest_AlarmAction.ACTIVATE) {
        const m = this.alarms.activate(a.memberID, a.alarm);
        return { header: this.header(), alarms: m ? [m] : [] };
      }
      if (a.action === AlarmRequest_AlarmAction.DEACTIVATE) {
        const m = this.alarms.deactivate(a.memberID, a.alarm);
        return { header: this.header(), alarms: m ? [m] : [] };
      }
      return { header: this.header(), alarms: [...this.alarms.all()] };
    }
    // Auth management: the enabling request may come from anyone while auth is off; the rest need root.
    const admin = (): void => auth.requireAdmin(this.requester(req));
    if (req.authEnable) {
      admin();
      store.enable();
      return { header: this.header() };
    }
    if (req.authDisable) {
      admin();
      store.disable();
      return { header: this.header() };
    }
    if (req.authenticate) {
      const a = req.authenticate;
      if (!store.user(a.name)) throw new AuthError('AuthFailed');
      this.authenticated(a.simpleToken, a.name, store.revision);
      return { header: this.header(), token: a.simpleToken };
    }
    if (req.authUserAdd) {
      admin();
      const u = req.authUserAdd;
      store.userAdd(u.name, u.hashedPassword, u.options?.noPassword ?? false);
      return { header: this.header() };
    }
    if (req.authUserDelete) {
      admin();
      store.userDelete(req.authUserDelete.name);
      auth.tokens.revokeUser(req.authUserDelete.name);
      return { header: this.header() };
    }
    if (req.authUserChangePassword) {
      admin();
      store.userChangePassword(req.authUserChangePassword.name, req.authUserChangePassword.hashedPassword);
      auth.tokens.revokeUser(req.authUserChangePassword.name);
      return { header: this.header() };
    }
    if (req.authUserGrantRole) {
      admin();
      store.userGrantRole(req.authUserGrantRole.user, req.authUserGrantRole.role);
      return { header: this.header() };
    }
    if (req.authUserRevokeRole) {
      admin();
      store.userRevokeRole(req.authUserRevokeRole.name, req.authUserRevokeRole.role);
      return { header: this.header() };
    }
    if (req.authRoleAdd) {
      admin();
      store.roleAdd(req.authRoleAdd.name);
      return { header: this.header() };
    }
    if (req.authRoleDelete) {
      admin();
      store.roleDelete(req.authRoleDelete.role);
      return { header: this.header() };
    }
    if (req.authRoleGrantPermission) {
      admin();
      const g = req.authRoleGrantPermission;
      if (!g.perm) throw new AuthError('PermissionNotGiven');
      store.roleGrantPermission(g.name, g.perm);
      return { header: this.header() };
    }
    if (req.authRoleRevokePermission) {
      admin();
      const r = req.authRoleRevokePermission;
      store.roleRevokePermission(r.role, r.key, r.rangeEnd);
      return { header: this.header() };
    }
    return {};
  }

  /** Member-local hook: a token became valid (tokens expire on each member's own clock). */
  private authenticated(token: string, user: string, revision: bigint): void {
    this.auth.tokens.assign(token, user, revision);
  }

  /**
   * Runs one write request in its own write transaction. A domain error is only acceptable before the first
   * change; after that, memory and the batch disagree and the error is escalated.
   */
  private guard<T>(txn: ReturnType<KVStore['write']>, fn: () => T): T {
    try {
      const out = fn();
      this.finish(txn.end(), txn.changes);
      return out;
    } catch (err) {
      if (txn.changes.length > 0) {
        throw new Error('apply: request failed after it changed the store', { cause: err });
      }
      txn.end();
      throw err;
    }
  }

  private finish(rev: bigint, changes: readonly Change[]): void {
    if (changes.length > 0) this.pending.push({ rev, changes: [...changes] });
  }
}
