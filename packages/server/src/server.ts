import { existsSync, mkdirSync, promises as fsp, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { join } from 'node:path';
import {
  AuthService,
  ClusterService,
  ElectionService,
  HealthService,
  KVService,
  LeaseService,
  LockService,
  MaintenanceService,
  WatchService,
  internalpb,
  type ServiceDesc,
} from '@latchkey/proto';
import { Applier } from './apply/applier.js';
import { LmdbBackend } from './backend/lmdb-backend.js';
import { WriteBehindBackend } from './backend/write-behind.js';
import type { Config } from './config.js';
import { tlsServerOptions } from './tls.js';
import { RequireLeader } from './api/require-leader.js';
import { standaloneEntries } from './node/force-new-cluster.js';
import { HashChecks } from './node/hash-checks.js';
import { Lessor } from './lease/lessor.js';
import { KVStore } from './mvcc/store.js';
import { systemClock, type Clock } from './node/clock.js';
import { EtcdServer, type Logger, type MemberState } from './node/etcd-server.js';
import { Failpoints } from './node/failpoints.js';
import { applyMemberChange, computeClusterId, computeMemberId, Membership } from './node/membership.js';
import { RaftNode } from './node/raft-node.js';
import { LogCompactor } from './node/log-compactor.js';
import { AutoCompactor, parseRetention } from './node/auto-compactor.js';
import { Metrics } from './node/metrics.js';
import { openWal, walExists } from './wal/wal.js';
import { PeerTransport, fetchMembers } from './transport/transport.js';
import {
  ConfChangeType,
  EntryType,
  MemoryStorage,
  MessageType,
  RawNode,
  StateType,
  decodeConfChange,
  type Entry,
  type Logger as RaftLogger,
  type Message,
} from './raft/index.js';
import { ClientListener } from './api/listener.js';
import { GrpcServer, type ServiceImpl } from './api/grpc/h2-server.js';
import { kvService } from './api/grpc/kv.js';
import { leaseService } from './api/grpc/lease.js';
import { maintenanceService } from './api/grpc/maintenance.js';
import { clusterService } from './api/grpc/cluster.js';
import { healthService } from './api/grpc/health.js';
import { watchService } from './api/grpc/watch.js';
import { snapshotHandler } from './api/grpc/snapshot.js';
import { authService } from './api/grpc/auth.js';
import { lockService } from './api/grpc/lock.js';
import { electionService } from './api/grpc/election.js';
import { Gateway, type GatewayRoute } from './api/http/gateway.js';
import { GATEWAY_ROUTES } from './api/http/routes.js';
import { WatchHub } from './watch/hub.js';
import { AuthGuard } from './auth/guard.js';
import { Passwords } from './auth/password.js';
import { AuthStore } from './auth/store.js';
import { SimpleTokens } from './auth/tokens.js';
import { JwtTokens } from './auth/jwt-tokens.js';
import { ETCD_CLUSTER_VERSION, ETCD_VERSION } from './version.js';

export interface RunningServer {
  readonly server: EtcdServer;
  /** Client endpoints actually bound (host:port), in --listen-client-urls order. */
  readonly clientAddresses: string[];
  stop(): Promise<void>;
  /** Resolves when the member stops on its own (it was removed from the cluster). */
  readonly removed: Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  failpoints?: Failpoints;
  /** WAL segment size in bytes (tests use small segments). */
  walSegmentBytes?: number;
  /** Random source for election timeouts (default Math.random). */
  random?: () => number;
}


function hostPort(url: string): string {
  const u = new URL(url);
  return `${u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, '')}:${u.port}`;
}

/**
 * The composition root: the only place where layers are wired together. Opens the WAL and the backend, recovers
 * the Raft log and the state machine, joins or bootstraps the cluster, starts the Raft driver, the peer transport
 * and the client listeners.
 */
export async function startServer(config: Config, log: Logger, opts: StartOptions = {}): Promise<RunningServer> {
  const clock = opts.clock ?? systemClock;
  const failpoints = opts.failpoints ?? new Failpoints();
  const memberDir = join(config.dataDir, 'member');
  const walDir = config.walDir;
  // The backend lives in member/<name>, where member/db.current names it ('db' unless a snapshot from the leader
  // replaced it: a new directory is filled and opened before the switch, so the state is never half-swapped).
  const pointer = join(memberDir, 'db.current');
  let dbDir = join(memberDir, existsSync(pointer) ? readFileSync(pointer, 'utf8').trim() : 'db');
  mkdirSync(dbDir, { recursive: true });
  const metrics = new Metrics();
  const token = config.initialClusterToken;
  const initial = [...config.initialCluster].map(([name, urls]) => ({ name, urls, id: computeMemberId(urls, token) }));
  const electionTicks = Math.max(2, Math.round(config.electionTimeout / config.heartbeatInterval));
  // etcd's minimum lease TTL: 1.5 election timeouts, rounded up to whole seconds.
  const minTTL = BigInt(Math.ceil((3 * electionTicks * config.heartbeatInterval) / 2 / 1000));

  // ------------------------------------------------------------------------------ identity and bootstrap
  const fresh = !walExists(walDir);
  let memberId: bigint;
  let joinedMembers: internalpb.MemberRecord[] | undefined;
  let joinedClusterId: bigint | undefined;
  if (!fresh || config.initialClusterState === 'new') {
    memberId = initial.find((m) => m.name === config.name)!.id;
  } else {
    // Joining a running cluster: ask the members we were told about for the membership, and find ourselves in it
    // by our peer URLs (the id was chosen when the member was added).
    const mine = new Set(config.initialAdvertisePeerUrls);
    let found: { clusterId: bigint; members: internalpb.MemberRecord[] } | undefined;
    for (const m of initial.filter((x) => x.name !== config.name)) {
      for (const url of m.urls) {
        try {
          found = await fetchMembers(url, config.peerTls, 3000);
          break;
        } catch (err) {
          log.warn('could not reach a member to join the cluster', { url, err: String(err) });
        }
      }
      if (found) break;
    }
    if (!found) throw new Error('latchkey: could not reach any member of the existing cluster named in --initial-cluster');
    const me = found.members.find((m) => m.peerUrls.some((u) => mine.has(u)));
    if (!me) throw new Error(`latchkey: this member's peer URLs (${[...mine].join(',')}) are not in the cluster; add it first with 'member add'`);
    memberId = me.id;
    joinedMembers = found.members;
    joinedClusterId = found.clusterId;
  }
  const { wal, contents } = openWal(walDir, memberId, {
    segmentBytes: opts.walSegmentBytes,
    warn: (m) => log.warn(m),
    onFsync: (sec) => metrics.walFsync.observe(sec),
  });
  if (!fresh) memberId = contents.memberId;

  // ------------------------------------------------------------------------------ state machine
  let server: EtcdServer | undefined;
  const tokens = config.jwt ? new JwtTokens(config.jwt) : new SimpleTokens(clock, config.authTokenTtlMs);
  const passwords = new Passwords(config.bcryptCost);
  let hub: WatchHub | undefined;
  let removedSelf = false;
  const openState = (dir: string): MemberState => {
    const backend = new WriteBehindBackend(new LmdbBackend(dir), {
      flushMs: config.backendBatchIntervalMs,
      maxWrites: config.backendBatchLimit,
      onFlushError: (err) => {
        // As etcd, which panics when a backend commit fails: the write-ahead log redoes the writes at restart.
        log.error('failed to commit to the backend; exiting', { err: err instanceof Error ? err.stack : String(err) });
        process.exit(1);
      },
    });
    const members = new Membership(backend);
    let applier: Applier | undefined;
    const lessor = new Lessor(backend, clock, minTTL, () => applier!.deleteKeys);
    const store = new KVStore(backend, lessor);
    store.forEachLive((kv) => {
      if (kv.lease !== 0n) lessor.attach(kv.lease, kv.key);
    });
    const auth = new AuthGuard(new AuthStore(backend), tokens, passwords);
    applier = new Applier(
      backend,
      store,
      lessor,
      (revs) => hub?.notify(revs),
      auth,
      (entry) => {
        const cc = decodeConfChange(entry.data);
        const r = applyMemberChange(members, cc);
        return r.requestId !== 0n ? { id: r.requestId, response: { members: r.members } } : undefined;
      },
      (sec) => metrics.backendCommit.observe(sec),
      (id, name, clientURLs) => {
        const m = members.get(id);
        if (m) members.put({ ...m, name, clientURLs });
      },
    );
    return { backend, store, lessor, applier, members, auth };
  };
  const state = openState(dbDir);
  hub = new WatchHub(state.store);

  const conf = { voters: [] as bigint[], learners: [] as bigint[] };
  let clusterId: bigint;
  if (fresh && config.initialClusterState === 'new') {
    clusterId = computeClusterId(initial.map((m) => m.id));
    conf.voters = initial.map((m) => m.id).sort((a, b) => (a < b ? -1 : 1));
    // Every member bootstraps identically: the log starts after a snapshot at index 1 holding the initial
    // membership, the backend records the members, the cluster id, and index 1 as applied.
    state.backend.batch(() => {
      for (const m of initial) state.members.put({ id: m.id, name: m.name, peerURLs: m.urls, clientURLs: [], isLearner: false });
      state.applier.recordClusterId(clusterId);
      state.applier.recordApplied(1, 1);
    });
    await state.backend.sync();
    await wal.saveSnapshot({ index: 1, term: 1, voters: conf.voters, learners: [] });
    await wal.save({ term: 1, vote: 0n, commit: 1 }, [], true);
    contents.snapshot = { index: 1, term: 1, voters: conf.voters, learners: [] };
    contents.hardState = { term: 1, vote: 0n, commit: 1 };
  } else if (fresh) {
    clusterId = joinedClusterId!;
    state.backend.batch(() => {
      for (const m of joinedMembers!) state.members.put({ id: m.id, name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls, isLearner: m.isLearner });
      state.applier.recordClusterId(clusterId);
    });
  } else {
    clusterId = state.applier.clusterId();
  }
  if (contents.snapshot) {
    conf.voters = contents.snapshot.voters;
    conf.learners = contents.snapshot.learners;
  }

  // ------------------------------------------------------------------------------ Raft log and core
  const snapIndex = contents.snapshot?.index ?? 0;
  if (config.forceNewCluster && !fresh) await forceNewCluster();
  const storage = new MemoryStorage();
  if (contents.snapshot) {
    storage.applySnapshot({ metadata: { index: snapIndex, term: contents.snapshot.term, confState: { voters: conf.voters, learners: conf.learners } }, data: new Uint8Array(0) });
  }
  storage.append(contents.entries.filter((e) => e.index > snapIndex) as Entry[]);
  if (contents.hardState) {
    // Committed entries are applied before the hard state of the same batch is written, so the backend may be
    // ahead of the persisted commit index: everything applied was committed.
    const commit = Math.min(Math.max(contents.hardState.commit, state.applier.appliedIndex, snapIndex), storage.lastIndex());
    storage.setHardState({ ...contents.hardState, commit });
  }
  /** --force-new-cluster: see node/force-new-cluster.ts. The rewrite is in the WAL before Raft starts. */
  async function forceNewCluster(): Promise<void> {
    const hs = contents.hardState ?? { term: 1, vote: 0n, commit: snapIndex };
    const last = contents.entries.at(-1)?.index ?? snapIndex;
    const commit = Math.min(Math.max(hs.commit, state.applier.appliedIndex, snapIndex), last);
    const kept = contents.entries.filter((e) => e.index <= commit);
    const { entries, removed } = standaloneEntries({
      self: { id: memberId, name: config.name, peerURLs: config.initialAdvertisePeerUrls },
      members: [...conf.voters, ...conf.learners],
      committed: kept.filter((e) => e.index > snapIndex),
      commit,
      term: hs.term,
    });
    contents.entries = [...kept, ...entries];
    contents.hardState = { ...hs, commit: commit + entries.length };
    await wal.save(contents.hardState, entries, true);
    log.warn('--force-new-cluster: this member is now the only voter of its cluster', { removed: removed.map((id) => id.toString(16)), dropped: last - commit, commit });
  }
  const raftLog: RaftLogger = {
    debug: (m) => log.debug(`raft: ${m}`),
    info: (m) => log.info(`raft: ${m}`),
    warn: (m) => log.warn(`raft: ${m}`),
    error: (m) => log.error(`raft: ${m}`),
  };
  const core = new RawNode({
    id: memberId,
    electionTick: electionTicks,
    heartbeatTick: 1,
    storage,
    // Entries after the snapshot point are handed out again: the applier skips those already in the backend,
    // but their membership changes must reach Raft's configuration again.
    applied: snapIndex,
    maxSizePerMsg: 1024 * 1024,
    maxInflightMsgs: 512,
    checkQuorum: true,
    preVote: config.preVote,
    // Followers do not answer appends that only move their commit index (one peer message fewer per write).
    commitOnlyAppends: true,
    random: opts.random ?? Math.random,
    logger: raftLog,
  });

  // ------------------------------------------------------------------------------ transport
  const pendingSnapshots = new Map<number, string>();
  const transport = new PeerTransport(
    { memberId, clusterId, isSnapshot: (m) => m.type === MessageType.MsgSnap, scratchDir: memberDir, log, ...(config.peerTls ? { tls: config.peerTls } : {}) },
    {
      onMessages: (msgs) => {
        for (const m of msgs) {
          try {
            node.step(m as Message);
          } catch (err) {
            log.debug(`dropped a raft message: ${String(err)}`);
          }
        }
      },
      onSnapshot: async (msg, file) => {
        pendingSnapshots.set(msg.snapshot!.metadata.index, file);
        node.step(msg as Message);
      },
      onUnreachable: (peer) => node.withCore(() => core.reportUnreachable(peer)),
      onSnapshotStatus: (peer, ok) => node.withCore(() => core.reportSnapshot(peer, ok)),
      snapshotFile: async () => {
        const file = join(memberDir, `outgoing-${Date.now()}-${Math.random().toString(16).slice(2)}.snap`);
        await server!.backend.copyTo(file);
        return file;
      },
      leaseRenew: async (req) => ({ ID: req.ID, TTL: await server!.leaseRenew(req.ID) }),
      leaseTimeToLive: (req) => server!.leaseTimeToLive(req),
      members: async () => ({
        clusterId,
        members: server!.memberList().map((m) => ({ id: m.id, name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, isLearner: m.isLearner })),
      }),
      hashKV: async (req) => {
        if (!server) throw new Error('member is starting');
        return { header: { clusterId, memberId, revision: server.store.currentRev }, ...server.store.hashKV(req.revision) };
      },
      isRemoved: (id) => server !== undefined && server.members.isRemoved(id),
      onRemovedFromCluster: () => {
        if (!removedSelf) {
          removedSelf = true;
          onRemoved();
        }
      },
      onPeerDown: (peer) => {
        // The leader's process went away (its connection broke): forget it so that a pre-vote can succeed at
        // once instead of after an election timeout; pre-vote keeps this safe if the leader is in fact alive.
        // Survivors campaign in turns (by id rank, half a heartbeat apart) so that they do not split the vote.
        // Without pre-vote a campaign would depose a live leader, so then only the election timeout replaces it.
        if (!config.preVote || !server || peer !== server.leader || server.isLeader) return;
        node.withCore(() => core.forgetLeader());
        const others = conf.voters.filter((v) => v !== peer);
        const rank = Math.max(0, others.indexOf(memberId));
        const delay = rank * (config.heartbeatInterval / 2) + Math.floor((opts.random ?? Math.random)() * (config.heartbeatInterval / 4));
        setTimeout(() => {
          if (server && server.leader === 0n) node.withCore(() => core.campaign());
        }, delay).unref();
      },
    },
  );
  const syncPeers = (): void => {
    const list = server ? server.memberList() : state.members.list();
    for (const m of list) if (m.id !== memberId) transport.setPeer(m.id, m.peerURLs);
  };
  await transport.listen(config.listenPeerUrls.map((u) => hostPort(u.toString())));

  // ------------------------------------------------------------------------------ driver
  const node: RaftNode<Message> = new RaftNode<Message>(
    core,
    wal,
    {
      append: (entries) => storage.append(entries as Entry[]),
      setHardState: (hs) => storage.setHardState(hs),
      applySnapshot: (snap) => storage.applySnapshot(snap as never),
    },
    {
      send: (msgs) => transport.send(msgs),
      apply: (entries) => {
        const started = performance.now();
        const results = server!.applier.apply(entries);
        const took = performance.now() - started;
        if (took > config.warningApplyDurationMs) {
          log.warn('apply request took too long', { took: `${took.toFixed(1)}ms`, expected: `${config.warningApplyDurationMs}ms`, entries: entries.length, firstIndex: entries[0]!.index });
        }
        // Membership changes reach Raft's configuration (even those the backend already had: see `applied`).
        for (const e of entries) {
          if (e.type !== EntryType.ConfChange) continue;
          const cc = decodeConfChange(e.data);
          const cs = core.applyConfChange(cc);
          conf.voters = cs.voters;
          conf.learners = cs.learners;
          if (cc.type === ConfChangeType.RemoveNode) {
            if (cc.nodeId === memberId) removedSelf = true;
            else transport.removePeer(cc.nodeId);
          }
        }
        if (entries.some((e) => e.type === EntryType.ConfChange)) {
          syncPeers();
          // Refresh the log's snapshot point to this configuration: a member that needs a snapshot (a new one, or
          // one far behind) must get a configuration that contains it. The data is the backend, copied when sent.
          const last = entries[entries.length - 1]!.index;
          if (last > storage.snapshot().metadata.index && last <= storage.lastIndex()) {
            storage.createSnapshot(last, { voters: conf.voters, learners: conf.learners }, new Uint8Array(0));
          }
        }
        server!.onApplied(results);
        if (removedSelf) onRemoved();
      },
      installSnapshot: async (snap) => {
        const file = pendingSnapshots.get(snap.metadata.index);
        pendingSnapshots.delete(snap.metadata.index);
        if (!file) throw new Error(`raft: no snapshot data received for index ${snap.metadata.index}`);
        await failpoints.hit('raftBeforeApplySnapshot');
        // Fill and open the new backend beside the old one, then switch in one synchronous step: requests and
        // timers never see a closed backend. The pointer file makes the switch durable.
        const name = `db-${Date.now().toString(36)}`;
        const nextDir = join(memberDir, name);
        await fsp.mkdir(nextDir, { recursive: true });
        await fsp.rename(file, join(nextDir, 'data.mdb'));
        const fh = await fsp.open(join(nextDir, 'data.mdb'), 'r+');
        await fh.sync();
        await fh.close();
        const next = openState(nextDir);
        const old = server!.replaceState(next);
        hub!.rebind(next.store);
        const oldDir = dbDir;
        dbDir = nextDir;
        await fsp.writeFile(`${pointer}.tmp`, name);
        const ph = await fsp.open(`${pointer}.tmp`, 'r+');
        await ph.sync();
        await ph.close();
        await fsp.rename(`${pointer}.tmp`, pointer);
        await old.backend.close();
        await fsp.rm(oldDir, { recursive: true, force: true });
        conf.voters = snap.metadata.confState.voters;
        conf.learners = snap.metadata.confState.learners;
        syncPeers();
        log.info('installed a snapshot from the leader', { index: snap.metadata.index, applied: next.applier.appliedIndex });
      },
      softState: (ss) => {
        if (ss.lead !== server!.leader) metrics.leaderChanges.inc();
        server!.onSoftState(ss);
        node.isLeader = ss.raftState === StateType.Leader;
        if (ss.lead !== 0n) server!.publishAttributes(config.name, config.advertiseClientUrls);
      },
      readStates: (rs) => {
        for (const r of rs) server!.reads.onReadState(r.index, r.requestCtx);
      },
      hardState: (hs) => server!.onHardState(hs.term, hs.commit),
      fatal: (err) => {
        log.error('fatal error in the raft loop; exiting', { err: err instanceof Error ? err.stack : String(err) });
        process.exit(1);
      },
    },
    failpoints,
    config.heartbeatInterval,
    () => server?.onTick(),
  );
  server = new EtcdServer(
    { memberId, clusterId, name: config.name },
    node,
    state,
    clock,
    {
      maxRequestBytes: config.maxRequestBytes,
      requestTimeoutMs: 5000 + 2 * config.electionTimeout,
      quotaBytes: config.quotaBackendBytes > 0 ? config.quotaBackendBytes : 2 * 1024 ** 3,
    },
    log,
    config.electionTimeout,
    {
      proposeConfChange: (cc) => node.withCore(() => core.proposeConfChange({ type: cc.type, nodeId: cc.nodeId, context: cc.context })),
      transferLeader: (to) => node.withCore(() => core.transferLeader(to)),
      matchIndex: (id) => core.status().progress.get(id)?.match,
      connections: () => (config.strictReconfigCheck ? { viewer: memberId, connectedForMs: transport.connectedFor() } : undefined),
      forwardLeaseRenew: async (leader, id) => (await transport.forwardLeaseRenew(leader, { ID: id }, 2000)).TTL,
      forwardLeaseTimeToLive: (leader, req) => transport.forwardLeaseTimeToLive(leader, req, 2000),
      clusterToken: token,
    },
  );
  syncPeers();
  const srv = server;
  srv.logCompactor = new LogCompactor(
    config.snapshotCount,
    snapIndex,
    async (index, term) => {
      await srv.backend.sync();
      // The Raft log keeps some entries behind the snapshot for followers that are only a little behind.
      const compactTo = index - config.snapshotCatchupEntries;
      if (compactTo > storage.firstIndex()) {
        storage.createSnapshot(compactTo, { voters: conf.voters, learners: conf.learners }, new Uint8Array(0));
        storage.compact(compactTo);
      }
      await wal.saveSnapshot({ index, term, voters: conf.voters, learners: conf.learners });
      await wal.releaseTo(index);
    },
    log,
  );
  const autoCompactor = new AutoCompactor(
    config.autoCompactionMode,
    parseRetention(config.autoCompactionMode, config.autoCompactionRetention),
    clock,
    () => ({ isLeader: srv.isLeader, currentRev: srv.store.currentRev, compactRev: srv.store.compactRev }),
    (rev) => srv.compact({ revision: rev, physical: false }, undefined, true),
  );
  // etcd's --experimental-initial-corrupt-check: a restarting member compares its data with its peers' before it
  // takes part (a new member has nothing to compare).
  const hashChecks = new HashChecks(srv, memberId, (id, rev, ms) => transport.peerHashKV(id, rev, ms), log);
  if (config.initialCorruptCheck && !fresh) await hashChecks.initial(config.electionTimeout + 5000);
  // --experimental-corrupt-check-time: the leader compares the members' hashes every interval (one at a time).
  let corruptCheck: NodeJS.Timeout | undefined;
  if (config.corruptCheckTimeMs > 0) {
    let running = false;
    corruptCheck = setInterval(() => {
      if (running || !srv.isLeader) return;
      running = true;
      hashChecks
        .periodic(5000 + 2 * config.electionTimeout)
        .catch((err: unknown) => log.warn('failed to check hash KV', { err: err instanceof Error ? err.message : String(err) }))
        .finally(() => (running = false));
    }, config.corruptCheckTimeMs);
    corruptCheck.unref();
    log.info('enabled corruption checking', { intervalMs: config.corruptCheckTimeMs });
  }
  node.start();
  srv.start();
  autoCompactor.start();
  // A single voter need not wait an election timeout to lead itself.
  if (conf.voters.length === 1 && conf.voters[0] === memberId) node.withCore(() => core.campaign());

  // ------------------------------------------------------------------------------ client API
  const grpcServer = new GrpcServer({
    maxReceiveBytes: config.maxRequestBytes + 512 * 1024,
    maxConcurrentStreams: config.maxConcurrentStreams,
    log,
    observer: {
      started: (m) => metrics.grpcCalls.started(m),
      handled: (m, code) => metrics.grpcCalls.handled(m, code),
    },
  });
  const impls = new Map<ServiceDesc, Record<string, unknown>>();
  const requireLeader = new RequireLeader(() => srv.leader !== 0n);
  const add = <S extends ServiceDesc>(desc: S, impl: ServiceImpl<S>): void => {
    const wrapped = requireLeader.wrap(desc, impl);
    grpcServer.addService(desc, wrapped);
    impls.set(desc, wrapped as Record<string, unknown>);
  };
  const leaderCheck = setInterval(() => requireLeader.check(), config.electionTimeout);
  leaderCheck.unref();
  add(KVService, kvService(srv, config.maxTxnOps));
  add(LeaseService, leaseService(srv));
  add(MaintenanceService, maintenanceService(srv, snapshotHandler(srv, memberDir)));
  add(ClusterService, clusterService(srv));
  add(HealthService, healthService(srv));
  add(AuthService, authService(srv));
  add(WatchService, watchService(srv, hub, config.maxRequestBytes, config.watchProgressNotifyIntervalMs));
  add(LockService, lockService(srv, hub, config.maxTxnOps));
  add(ElectionService, electionService(srv, hub, config.maxTxnOps));

  const plain = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(srv.leader !== 0n ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ health: srv.leader !== 0n ? 'true' : 'false' }));
      return true;
    }
    if (req.method === 'GET' && req.url === '/metrics') {
      metrics.hasLeader.set(srv.leader !== 0n ? 1 : 0);
      metrics.isLeader.set(srv.isLeader ? 1 : 0);
      metrics.proposalsCommitted.set(srv.committedIndex);
      metrics.proposalsApplied.set(srv.applier.appliedIndex);
      metrics.proposalsPending.set(srv.wait.size);
      const size = srv.backend.size();
      metrics.dbTotalSize.set(size.total);
      metrics.dbInUseSize.set(size.inUse);
      metrics.watchers.set(hub!.watcherCount);
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
      return true;
    }
    if (req.method === 'GET' && req.url === '/version') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ etcdserver: ETCD_VERSION, etcdcluster: ETCD_CLUSTER_VERSION }));
      return true;
    }
    return false;
  };
  const routes: GatewayRoute[] = [];
  for (const [path, desc, method] of GATEWAY_ROUTES) {
    const handler = impls.get(desc)?.[method];
    if (handler) routes.push({ path, method: desc[method]!, handler: handler as GatewayRoute['handler'] });
  }
  const http = new Gateway(routes, plain, log, { cors: config.cors, hostWhitelist: config.hostWhitelist }).handle;
  if (config.clientTls) {
    // Over TLS, HTTP/2 connections carry gateway requests as well as gRPC calls.
    grpcServer.fallback = (stream, headers) => {
      const req = new Http2ServerRequest(stream, headers, {}, []);
      const res = new Http2ServerResponse(stream);
      http(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    };
  }

  const listeners: ClientListener[] = [];
  const clientAddresses: string[] = [];
  for (const url of config.listenClientUrls) {
    const l = new ClientListener(grpcServer, http, url.protocol === 'https:' ? config.clientTls : undefined);
    const [host = '127.0.0.1', port = '0'] = hostPort(url.toString()).split(/:(?=\d+$)/);
    await l.listen(Number(port), host);
    listeners.push(l);
    clientAddresses.push(`${host}:${l.address().port}`);
  }
  log.info('serving client requests', { addresses: clientAddresses, memberId: memberId.toString(16), clusterId: clusterId.toString(16) });
  // --listen-metrics-urls: GET /metrics and GET /health only, as etcd's metrics listeners serve.
  const metricsServers: (HttpServer | HttpsServer)[] = [];
  const metricsOnly = (req: IncomingMessage, res: ServerResponse): void => {
    if ((req.url === '/metrics' || req.url === '/health') && plain(req, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' }).end('404 page not found\n');
  };
  for (const url of config.listenMetricsUrls) {
    const tlsFiles = url.protocol === 'https:' ? config.clientTls : undefined;
    if (url.protocol === 'https:' && !tlsFiles) throw new Error(`--listen-metrics-urls: ${url.href} needs --cert-file and --key-file`);
    const ms = tlsFiles ? createHttpsServer(tlsServerOptions(tlsFiles), metricsOnly) : createHttpServer(metricsOnly);
    const [host = '127.0.0.1', port = '0'] = hostPort(url.toString()).split(/:(?=\d+$)/);
    await new Promise<void>((resolve, reject) => {
      ms.once('error', reject);
      ms.listen(Number(port), host, () => resolve());
    });
    metricsServers.push(ms);
  }
  if (metricsServers.length > 0) log.info('serving metrics', { urls: config.listenMetricsUrls.map((u) => u.href) });
  for (const f of config.inert) log.info(`flag --${f.flag} has no effect in latchkey`, { value: f.value, reason: f.reason });
  for (const [side, t] of [['client', config.clientTls], ['peer', config.peerTls]] as const) {
    if (t?.selfSigned) log.info(`using a self-signed ${side} certificate`, { dir: join(config.dataDir, 'fixtures', side) });
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all(listeners.map((l) => l.close()));
      for (const ms of metricsServers) {
        ms.closeAllConnections();
        ms.close();
      }
      grpcServer.close();
      autoCompactor.stop();
      clearInterval(corruptCheck);
      clearInterval(leaderCheck);
      await srv.stop();
      hub!.close();
      await node.stop();
      await transport.stop();
      await wal.close();
      await srv.backend.close();
      await passwords.close();
    })();
    return stopping;
  };
  let markRemoved: () => void = () => undefined;
  const removed = new Promise<void>((r) => {
    markRemoved = r;
  });
  const onRemoved = (): void => {
    log.warn('this member has been removed from the cluster; stopping');
    void stop().then(markRemoved);
  };
  return { server: srv, clientAddresses, stop, removed };
}
