import { randomBytes } from 'node:crypto';
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  internalpb,
  type CompactionRequest,
  type CompactionResponse,
  type EtcdErrorName,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type Init,
  type LeaseGrantResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type TxnRequest,
  type TxnResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
} from '@latchkey/proto';
import { ConfChangeKind, computeMemberId } from './membership.js';
import type { Backend } from '../backend/backend.js';
import type { Applier, ApplyResult } from '../apply/applier.js';
import { executeRange, executeTxn, isTxnReadOnly } from '../apply/kv.js';
import type { Lessor } from '../lease/lessor.js';
import type { KVStore } from '../mvcc/store.js';
import type { Clock } from './clock.js';
import { MembershipError, NoLeaderError, RequestTooLargeError, StoppedError, TimeoutError } from './errors.js';
import type { Membership, MemberInfo } from './membership.js';
import { ReadIndexBatcher } from './read-index.js';
import { checkAddVoter, checkPromote, checkRemoveVoter, type ReconfigView } from './reconfig-check.js';
import type { RaftNode } from './raft-node.js';
import { Role, type CoreSoftState } from './raft-core.js';
import { RequestIds, Wait } from './wait.js';
import type { LogCompactor } from './log-compactor.js';
import { NoSpaceError } from '../mvcc/errors.js';
import type { AuthGuard, AuthInfo } from '../auth/guard.js';

const EMPTY_REQUEST = new Uint8Array(0);

export interface ServerLimits {
  /** Largest encoded proposal accepted (etcd's --max-request-bytes). */
  maxRequestBytes: number;
  /** Backend bytes in use beyond which writes raise the NOSPACE alarm (etcd's --quota-backend-bytes). */
  quotaBytes: number;
  /** How long a proposal or read may wait before failing with "request timed out", in ms. */
  requestTimeoutMs: number;
}

export interface Logger {
  debug(msg: string, meta?: Record<string, unknown>): void;
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
  error(msg: string, meta?: Record<string, unknown>): void;
}

/**
 * The member's replicated state machine and the storage under it. Replaced as a whole when the member installs a
 * snapshot received from the leader.
 */
export interface MemberState {
  readonly backend: Backend;
  readonly store: KVStore;
  readonly lessor: Lessor;
  readonly applier: Applier;
  readonly members: Membership;
  readonly auth: AuthGuard;
}

/** What the server needs from the Raft node and the transport to change membership and reach the leader. */
export interface ClusterControl {
  /** Proposes a membership change; throws (like a dropped proposal) when Raft cannot take it now. */
  proposeConfChange(cc: { type: number; nodeId: bigint; context: Uint8Array }): void;
  transferLeader(to: bigint): void;
  /** On the leader: how far a member's log matches the leader's (undefined elsewhere or if unknown). */
  matchIndex(id: bigint): number | undefined;
  /** For --strict-reconfig-check: how long this member has been connected to each peer; undefined when off. */
  connections(): Pick<ReconfigView, 'viewer' | 'connectedForMs'> | undefined;
  forwardLeaseRenew(leader: bigint, id: bigint): Promise<bigint>;
  forwardLeaseTimeToLive(leader: bigint, req: Init<LeaseTimeToLiveRequest>): Promise<LeaseTimeToLiveResponse>;
  /** The cluster token member ids are derived from. */
  readonly clusterToken: string;
}

/** A member's identity and the cluster's, as response headers carry them. */
export interface Identity {
  memberId: bigint;
  clusterId: bigint;
  name: string;
}

/**
 * The member's request facade (etcd's EtcdServer / RaftKV): what the API adapters call. Writes become proposals
 * that complete when applied; linearizable reads wait for a ReadIndex round; serializable reads are served from
 * the local store at once.
 */
export class EtcdServer {
  readonly wait = new Wait<ApplyResult>();
  private readonly ids: RequestIds;
  readonly reads: ReadIndexBatcher;
  private _leader = 0n;
  private _term = 0;
  private _commit = 0;
  /** Backend bytes in use, sampled every 100 ms (the quota check must not stat the database per request). */
  private sizeInUse = 0;
  private stopped = false;
  private readonly revokesInFlight = new Map<bigint, number>();
  private timers: NodeJS.Timeout[] = [];

  constructor(
    readonly identity: Identity,
    readonly node: RaftNode,
    private state: MemberState,
    readonly clock: Clock,
    readonly limits: ServerLimits,
    readonly log: Logger,
    /** Election timeout in ms: how far deadlines are extended when this member becomes the lease primary. */
    private readonly electionMs: number,
    private readonly cluster: ClusterControl,
  ) {
    this.ids = new RequestIds(identity.memberId);
    this.reads = new ReadIndexBatcher((ctx) => this.node.readIndex(ctx), () => this.applier.appliedIndex, () => clock.now());
  }

  get backend(): Backend {
    return this.state.backend;
  }

  get store(): KVStore {
    return this.state.store;
  }

  get lessor(): Lessor {
    return this.state.lessor;
  }

  get applier(): Applier {
    return this.state.applier;
  }

  get members(): Membership {
    return this.state.members;
  }

  get auth(): AuthGuard {
    return this.state.auth;
  }

  /** Swaps in the state rebuilt from an installed snapshot; the caller closes the old backend. */
  replaceState(next: MemberState): MemberState {
    const old = this.state;
    this.state = next;
    if (this.isLeader) next.lessor.promote(this.electionMs);
    return old;
  }

  // ------------------------------------------------------------------------------ driver callbacks

  /** Called with the results of each applied batch. */
  onApplied(results: ApplyResult[]): void {
    for (const r of results) this.wait.trigger(r.id, r);
    this.reads.onApplied(this.applier.appliedIndex);
    this.logCompactor?.maybe(this.applier.appliedIndex, this.applier.appliedTerm);
  }

  /** Set by the composition root: bounds the WAL (see LogCompactor). */
  logCompactor: LogCompactor | undefined;

  onSoftState(ss: CoreSoftState): void {
    const wasLeader = this.isLeader;
    if (ss.lead !== this._leader) this.log.info(`leader is now ${ss.lead.toString(16)}`);
    this._leader = ss.lead;
    const isLeader = ss.raftState === Role.Leader;
    if (isLeader && !wasLeader) this.lessor.promote(this.electionMs);
    if (!isLeader && wasLeader) this.lessor.demote();
  }

  onHardState(term: number, commit: number): void {
    this._term = term;
    this._commit = commit;
  }

  onTick(): void {
    this.reads.onTick();
  }

  // ------------------------------------------------------------------------------ state

  get isLeader(): boolean {
    return this._leader === this.identity.memberId;
  }

  get leader(): bigint {
    return this._leader;
  }

  get term(): number {
    return this._term;
  }

  /** The highest log index this member knows to be committed. */
  get committedIndex(): number {
    return Math.max(this._commit, this.applier.appliedIndex);
  }

  /** Starts the member-local background duties (lease expiry and checkpoints). */
  start(): void {
    this.timers.push(setInterval(() => this.revokeExpiredLeases(), 500));
    // One sweep for every request's deadline instead of a timer per request; the backend size for the quota is
    // sampled on the same beat.
    this.timers.push(
      setInterval(() => {
        this.sizeInUse = this.backend.sizeInUse();
        const now = this.clock.now();
        this.wait.sweep(now, () => new TimeoutError('request'));
        this.reads.sweep(now, () => new TimeoutError('linearizable read'));
      }, 100),
    );
    this.timers.push(setInterval(() => this.checkpointLeases(), 5000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    const err = new StoppedError();
    this.wait.failAll(err);
    this.reads.failAll(err);
  }

  // ------------------------------------------------------------------------------ KV

  async range(r: RangeRequest): Promise<RangeResponse> {
    if (!r.serializable) await this.linearizableRead();
    return executeRange(this.store, r);
  }

  put(r: PutRequest, ai?: AuthInfo): Promise<PutResponse> {
    return this.propose({ put: r }, ai) as Promise<PutResponse>;
  }

  deleteRange(r: DeleteRangeRequest, ai?: AuthInfo): Promise<DeleteRangeResponse> {
    return this.propose({ deleteRange: r }, ai) as Promise<DeleteRangeResponse>;
  }

  async txn(r: TxnRequest, ai?: AuthInfo): Promise<TxnResponse> {
    if (isTxnReadOnly(r)) {
      // Read-only transactions are reads: no proposal, no revision.
      if (!isTxnSerializable(r)) await this.linearizableRead();
      return executeTxn(this.store, this.store.write(), this.lessor, r);
    }
    return this.propose({ txn: r }, ai) as Promise<TxnResponse>;
  }

  /** Compaction; `ai` undefined with `system` set means the server's own auto-compactor. */
  compact(r: CompactionRequest, ai?: AuthInfo, system = false): Promise<CompactionResponse> {
    return this.propose({ compaction: r, system }, ai) as Promise<CompactionResponse>;
  }

  // ------------------------------------------------------------------------------ leases

  async leaseGrant(ttl: bigint, id: bigint, ai?: AuthInfo): Promise<LeaseGrantResponse> {
    let chosen = id;
    if (chosen === 0n) {
      do chosen = randomBytes(8).readBigUInt64BE(0) & 0x7fffffffffffffffn;
      while (chosen === 0n || this.lessor.exists(chosen));
    }
    return (await this.propose({ leaseGrant: { TTL: ttl, ID: chosen } }, ai)) as LeaseGrantResponse;
  }

  async leaseRevoke(id: bigint, ai?: AuthInfo): Promise<void> {
    await this.propose({ leaseRevoke: { ID: id } }, ai);
  }

  /** Renews a lease (a keep-alive); returns the TTL (0n for an unknown lease). Forwarded to the leader. */
  async leaseRenew(id: bigint): Promise<bigint> {
    if (this.isLeader) return this.lessor.renew(id);
    if (this._leader === 0n) throw new NoLeaderError();
    try {
      return await this.cluster.forwardLeaseRenew(this._leader, id);
    } catch (err) {
      throw new NoLeaderError({ cause: err });
    }
  }

  /** A lease's remaining and granted TTL (remaining time is known to the leader only). */
  async leaseTimeToLive(req: LeaseTimeToLiveRequest): Promise<Init<LeaseTimeToLiveResponse>> {
    if (!this.isLeader) {
      if (this._leader === 0n) throw new NoLeaderError();
      try {
        return await this.cluster.forwardLeaseTimeToLive(this._leader, req);
      } catch (err) {
        throw new NoLeaderError({ cause: err });
      }
    }
    await this.linearizableRead();
    const lease = this.lessor.lookup(req.ID);
    if (!lease) return { ID: req.ID, TTL: -1n };
    return {
      ID: req.ID,
      TTL: this.lessor.remaining(lease),
      grantedTTL: lease.ttl,
      keys: req.keys ? [...lease.keys].map((k) => Buffer.from(k, 'latin1')) : [],
    };
  }

  // ------------------------------------------------------------------------------ cluster

  memberList(): MemberInfo[] {
    return this.members.list();
  }

  /** Adds a member (voter or learner) through the log; resolves with it and the membership after the change. */
  async memberAdd(peerURLs: string[], isLearner: boolean): Promise<{ member: MemberInfo; members: MemberInfo[] }> {
    checkPeerURLs(peerURLs);
    // As in etcd, the quorum check comes before the checks of the new member against the membership.
    if (!isLearner) this.strictCheck((view) => checkAddVoter(view));
    const current = this.members.list();
    if (current.some((m) => m.peerURLs.some((u) => peerURLs.includes(u)))) throw new MembershipError('PeerURLExist');
    const id = computeMemberId(peerURLs, this.cluster.clusterToken, Math.floor(Date.now() / 1000));
    if (current.some((m) => m.id === id)) throw new MembershipError('MemberExist');
    const member: MemberInfo = { id, name: '', peerURLs, clientURLs: [], isLearner };
    const members = await this.proposeMemberChange({ type: isLearner ? ConfChangeKind.AddLearnerNode : ConfChangeKind.AddNode, nodeId: id }, member);
    return { member, members };
  }

  async memberRemove(id: bigint): Promise<MemberInfo[]> {
    const m = this.members.get(id);
    if (!m) throw new MembershipError('MemberNotFound');
    if (!m.isLearner) this.strictCheck((view) => checkRemoveVoter(view, id));
    return this.proposeMemberChange({ type: ConfChangeKind.RemoveNode, nodeId: id }, m);
  }

  async memberUpdate(id: bigint, peerURLs: string[]): Promise<MemberInfo[]> {
    checkPeerURLs(peerURLs);
    const m = this.members.get(id);
    if (!m) throw new MembershipError('MemberNotFound');
    if (this.members.list().some((x) => x.id !== id && x.peerURLs.some((u) => peerURLs.includes(u)))) throw new MembershipError('PeerURLExist');
    return this.proposeMemberChange({ type: ConfChangeKind.UpdateNode, nodeId: id }, { ...m, peerURLs });
  }

  /** Promotes a learner to voter once it has caught up (at least 90% of the leader's log, as etcd requires). */
  async memberPromote(id: bigint): Promise<MemberInfo[]> {
    const m = this.members.get(id);
    if (!m) throw new MembershipError('MemberNotFound');
    if (!m.isLearner) throw new MembershipError('MemberNotLearner');
    const match = this.cluster.matchIndex(id);
    if (this.isLeader && (match === undefined || match < 0.9 * this.committedIndex)) throw new MembershipError('LearnerNotReady');
    this.strictCheck((view) => checkPromote(view));
    return this.proposeMemberChange({ type: ConfChangeKind.AddNode, nodeId: id }, { ...m, isLearner: false });
  }

  /** Runs one of reconfig-check.ts's rules (when --strict-reconfig-check is on) and throws what it refuses with. */
  private strictCheck(rule: (view: ReconfigView) => EtcdErrorName | undefined): void {
    const seen = this.cluster.connections();
    if (!seen) return;
    const voters = this.members
      .list()
      .filter((m) => !m.isLearner)
      .map((m) => ({ id: m.id, started: m.name !== '' }));
    const refusal = rule({ voters, ...seen });
    if (refusal) {
      this.log.warn('rejecting membership change (--strict-reconfig-check)', { reason: refusal });
      throw new MembershipError(refusal);
    }
  }

  /** Transfers leadership (leader only) and waits until the target leads. */
  async moveLeader(target: bigint): Promise<void> {
    if (!this.isLeader) throw new MembershipError('NotLeader');
    const m = this.members.get(target);
    if (!m || m.isLearner) throw new MembershipError('BadLeaderTransferee');
    if (target === this.identity.memberId) return;
    this.cluster.transferLeader(target);
    const deadline = this.clock.now() + this.limits.requestTimeoutMs;
    while (this._leader !== target) {
      if (this.clock.now() > deadline) throw new TimeoutError('leader transfer');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Proposes a membership change and waits for it to be applied, retrying while Raft has another in flight. */
  private async proposeMemberChange(cc: { type: number; nodeId: bigint }, member: MemberInfo): Promise<MemberInfo[]> {
    if (this.stopped) throw new StoppedError();
    const requestId = this.ids.id();
    const context = internalpb.ConfChangeContext.encode({
      requestId,
      member: { id: member.id, name: member.name, peerUrls: member.peerURLs, clientUrls: member.clientURLs, isLearner: member.isLearner },
    });
    const deadline = this.clock.now() + this.limits.requestTimeoutMs;
    const done = this.wait.register(requestId, deadline);
    for (;;) {
      try {
        this.cluster.proposeConfChange({ ...cc, context });
        break;
      } catch (err) {
        if (this.clock.now() > deadline) {
          this.wait.fail(requestId, new NoLeaderError({ cause: err }));
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const result = await done;
    if (result.error) throw result.error;
    return (result.response as { members: MemberInfo[] }).members;
  }

  /** Publishes this member's name and client URLs through the log once, so every member lists them. */
  publishAttributes(name: string, clientURLs: string[]): void {
    const me = this.members.get(this.identity.memberId);
    if (me && me.name === name && me.clientURLs.join(',') === clientURLs.join(',')) return;
    this.propose({ memberAttributes: { memberId: this.identity.memberId, name, clientUrls: clientURLs }, system: true }).catch((err: unknown) =>
      this.log.debug(`publishing member attributes: ${String(err)}`),
    );
  }

  // ------------------------------------------------------------------------------ plumbing

  /** Waits until a read started now may be served from the local store (ReadIndex, batched). */
  async linearizableRead(): Promise<void> {
    if (this.stopped) throw new StoppedError();
    await this.reads.wait(this.clock.now() + this.limits.requestTimeoutMs);
  }

  /**
   * Proposes a request and resolves with its apply result (or rejects with its error). `ai` is the requester's
   * identity, re-checked when the entry is applied.
   */
  async propose(req: Init<internalpb.InternalRaftRequest>, ai?: AuthInfo): Promise<unknown> {
    if (this.stopped) throw new StoppedError();
    const id = this.ids.id();
    // Start from a decoded (full-shape) message so every proposal reaches the encoder with one hidden class.
    const msg = Object.assign(internalpb.InternalRaftRequest.decode(EMPTY_REQUEST), req);
    msg.id = id;
    if (ai) {
      msg.username = ai.user;
      msg.authRevision = ai.revision;
    }
    const data = internalpb.InternalRaftRequest.encode(msg);
    if (data.length > this.limits.maxRequestBytes) throw new RequestTooLargeError(data.length, this.limits.maxRequestBytes);
    if (req.put || req.leaseGrant || (req.txn && !isTxnReadOnly(req.txn as TxnRequest))) this.checkQuota(data.length);
    const done = this.wait.register(id, this.clock.now() + this.limits.requestTimeoutMs);
    try {
      this.node.propose(data);
    } catch (err) {
      this.wait.fail(id, new NoLeaderError({ cause: err }));
    }
    const result = await done;
    if (result.error) throw result.error;
    return result.response;
  }

  /**
   * Refuses data that would take the backend over its quota, raising the NOSPACE alarm (through the log, so
   * every member refuses writes until an operator frees space and disarms it), as etcd does.
   */
  private checkQuota(cost: number): void {
    if (this.applier.alarms.has(AlarmType.NOSPACE)) throw new NoSpaceError();
    if (this.sizeInUse + cost <= this.limits.quotaBytes) return;
    this.sizeInUse = this.backend.sizeInUse();
    if (this.sizeInUse + cost <= this.limits.quotaBytes) return;
    this.log.warn('backend quota exceeded; raising the NOSPACE alarm', { inUse: this.sizeInUse, quota: this.limits.quotaBytes });
    this.propose({ alarm: { action: AlarmRequest_AlarmAction.ACTIVATE, memberID: this.identity.memberId, alarm: AlarmType.NOSPACE }, system: true }).catch(
      () => undefined,
    );
    throw new NoSpaceError();
  }

  private revokeExpiredLeases(): void {
    if (!this.isLeader) return;
    const now = this.clock.now();
    for (const id of this.lessor.expired()) {
      const since = this.revokesInFlight.get(id);
      if (since !== undefined && now - since < 3000) continue;
      this.revokesInFlight.set(id, now);
      this.propose({ leaseRevoke: { ID: id }, system: true })
        .catch((err: unknown) => this.log.debug(`lease ${id.toString(16)} revoke: ${String(err)}`))
        .finally(() => this.revokesInFlight.delete(id));
    }
  }

  private checkpointLeases(): void {
    if (!this.isLeader) return;
    const cps = this.lessor.checkpoints();
    if (cps.length === 0) return;
    this.propose({ leaseCheckpoint: { checkpoints: cps.map((c) => ({ ID: c.id, remainingTTL: c.remainingTTL })) }, system: true }).catch(
      (err: unknown) => this.log.debug(`lease checkpoint: ${String(err)}`),
    );
  }
}

function checkPeerURLs(urls: string[]): void {
  if (urls.length === 0) throw new MembershipError('MemberBadURLs');
  for (const u of urls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new MembershipError('MemberBadURLs');
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.port) throw new MembershipError('MemberBadURLs');
  }
}

function isTxnSerializable(t: TxnRequest): boolean {
  const ser = (ops: TxnRequest['success']) =>
    ops.every((op) => (op.requestRange ? op.requestRange.serializable : op.requestTxn ? isTxnSerializable(op.requestTxn) : true));
  return ser(t.success) && ser(t.failure);
}
