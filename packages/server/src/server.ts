import { mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { join } from 'node:path';
import {
  ClusterService,
  HealthService,
  KVService,
  LeaseService,
  MaintenanceService,
  WatchService,
  AuthService,
  type ServiceDesc,
} from '@latchkey/proto';
import { Applier } from './apply/applier.js';
import { LmdbBackend } from './backend/lmdb-backend.js';
import type { Config } from './config.js';
import { Lessor } from './lease/lessor.js';
import { KVStore } from './mvcc/store.js';
import { systemClock, type Clock } from './node/clock.js';
import { EtcdServer, type Logger } from './node/etcd-server.js';
import { Failpoints } from './node/failpoints.js';
import { computeClusterId, computeMemberId, Membership } from './node/membership.js';
import { RaftNode } from './node/raft-node.js';
import { SoloRaft } from './node/solo-raft.js';
import { LogCompactor } from './node/log-compactor.js';
import { AutoCompactor, parseRetention } from './node/auto-compactor.js';
import { openWal, walExists } from './wal/wal.js';
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
import { WatchHub } from './watch/hub.js';
import { GRPC_CODE_NAMES, Metrics } from './node/metrics.js';
import { AuthGuard } from './auth/guard.js';
import { AuthStore } from './auth/store.js';
import { SimpleTokens } from './auth/tokens.js';
import { Gateway, type GatewayRoute } from './api/http/gateway.js';
import { GATEWAY_ROUTES } from './api/http/routes.js';
import { ETCD_CLUSTER_VERSION, ETCD_VERSION } from './version.js';

function grpcLabels(m: { path: string; requestStream: boolean; responseStream: boolean }): { grpc_type: string; grpc_service: string; grpc_method: string } {
  const [, service = '', method = ''] = m.path.split('/');
  const grpc_type = m.requestStream ? (m.responseStream ? 'bidi_stream' : 'client_stream') : m.responseStream ? 'server_stream' : 'unary';
  return { grpc_type, grpc_service: service, grpc_method: method };
}

export interface RunningServer {
  readonly server: EtcdServer;
  /** Client endpoints actually bound (host:port), in --listen-client-urls order. */
  readonly clientAddresses: string[];
  stop(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  failpoints?: Failpoints;
  /** WAL segment size in bytes (tests use small segments). */
  walSegmentBytes?: number;
  /** Interval of progress notifications for watchers that ask for them (etcd default 10 minutes). */
  watchProgressIntervalMs?: number;
}

/**
 * The composition root: the only place where layers are wired together. Opens the backend and the WAL,
 * recovers the store, the lessor and the applier, starts the Raft driver and the client listeners.
 */
export async function startServer(config: Config, log: Logger, opts: StartOptions = {}): Promise<RunningServer> {
  const clock = opts.clock ?? systemClock;
  const failpoints = opts.failpoints ?? new Failpoints();
  const memberDir = join(config.dataDir, 'member');
  const walDir = join(memberDir, 'wal');
  const dbDir = join(memberDir, 'db');
  mkdirSync(dbDir, { recursive: true });

  const ids = [...config.initialCluster].map(([name, urls]) => ({ name, id: computeMemberId(urls, config.initialClusterToken), urls }));
  if (ids.length > 1) {
    throw new Error('latchkey: clusters of more than one member are not available in this build; use a single-member --initial-cluster');
  }
  const self = ids.find((m) => m.name === config.name)!;
  const fresh = !walExists(walDir);
  const metrics = new Metrics();
  const { wal, contents } = openWal(walDir, self.id, {
    segmentBytes: opts.walSegmentBytes,
    warn: (m) => log.warn(m),
    onFsync: (sec) => metrics.walFsync.observe(sec),
  });
  const memberId = fresh ? self.id : contents.memberId;

  const backend = new LmdbBackend(dbDir);
  const members = new Membership(backend);
  const electionTicks = Math.max(1, Math.round(config.electionTimeout / config.heartbeatInterval));
  // etcd's minimum lease TTL: 1.5 election timeouts, rounded up to whole seconds.
  const minTTL = BigInt(Math.ceil((3 * electionTicks * config.heartbeatInterval) / 2 / 1000));
  let applier: Applier | undefined;
  const lessor = new Lessor(backend, clock, minTTL, () => applier!.deleteKeys);
  const store = new KVStore(backend, lessor);
  store.forEachLive((kv) => {
    if (kv.lease !== 0n) lessor.attach(kv.lease, kv.key);
  });
  let server: EtcdServer | undefined;
  const hub = new WatchHub(store);
  const auth = new AuthGuard(new AuthStore(backend), new SimpleTokens(clock));
  applier = new Applier(backend, store, lessor, (revs) => hub.notify(revs), auth, undefined, (sec) => metrics.backendCommit.observe(sec));

  const clusterId = applier.clusterId() || computeClusterId(ids.map((m) => m.id));
  backend.batch(() => {
    if (fresh) {
      for (const m of ids) members.put({ id: m.id, name: m.name, peerURLs: m.urls, clientURLs: [], isLearner: false });
      applier!.recordClusterId(clusterId);
    }
    const me = members.get(memberId);
    if (me) members.put({ ...me, name: config.name, clientURLs: config.advertiseClientUrls });
  });

  const core = new SoloRaft(memberId, contents.hardState, contents.entries, applier.appliedIndex, contents.snapshot?.index ?? 0);
  const node = new RaftNode(
    core,
    wal,
    { append() {}, setHardState() {}, applySnapshot() {} },
    {
      send() {},
      apply(entries) {
        server!.onApplied(applier!.apply(entries));
      },
      async installSnapshot() {
        throw new Error('latchkey: snapshots from a leader are not available for a single member');
      },
      softState: (ss) => {
        if (ss.lead !== server!.leader) metrics.leaderChanges.inc();
        server!.onSoftState(ss);
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
    { backend, store, lessor, applier, members, auth },
    clock,
    {
      maxRequestBytes: config.maxRequestBytes,
      requestTimeoutMs: 5000 + 2 * config.electionTimeout,
      quotaBytes: config.quotaBackendBytes > 0 ? config.quotaBackendBytes : 2 * 1024 ** 3,
    },
    log,
    config.electionTimeout,
  );
  server.logCompactor = new LogCompactor(
    config.snapshotCount,
    contents.snapshot?.index ?? 0,
    async (index, term) => {
      await backend.sync();
      await wal.saveSnapshot({ index, term, voters: [memberId], learners: [] });
      await wal.releaseTo(index);
    },
    log,
  );
  const srv = server;
  const autoCompactor = new AutoCompactor(
    config.autoCompactionMode,
    parseRetention(config.autoCompactionMode, config.autoCompactionRetention),
    clock,
    () => ({ isLeader: srv.isLeader, currentRev: store.currentRev, compactRev: store.compactRev }),
    (rev) => srv.compact({ revision: rev, physical: false }, undefined, true),
  );
  node.start();
  server.start();
  autoCompactor.start();

  const grpcServer = new GrpcServer({
    maxReceiveBytes: config.maxRequestBytes + 512 * 1024,
    log,
    observer: {
      started: (m) => metrics.grpcStarted.inc(grpcLabels(m)),
      handled: (m, code) => metrics.grpcHandled.inc({ ...grpcLabels(m), grpc_code: GRPC_CODE_NAMES[code] ?? String(code) }),
    },
  });
  const impls = new Map<ServiceDesc, Record<string, unknown>>();
  const add = <S extends ServiceDesc>(desc: S, impl: ServiceImpl<S>): void => {
    grpcServer.addService(desc, impl);
    impls.set(desc, impl as Record<string, unknown>);
  };
  const s = server;
  add(KVService, kvService(s, config.maxTxnOps));
  add(LeaseService, leaseService(s));
  add(MaintenanceService, maintenanceService(s, snapshotHandler(s, memberDir)));
  add(ClusterService, clusterService(s));
  add(HealthService, healthService(s));
  add(AuthService, authService(s));
  add(WatchService, watchService(s, hub, config.maxRequestBytes, opts.watchProgressIntervalMs ?? 10 * 60 * 1000));

  const plain = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(s.leader !== 0n ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ health: s.leader !== 0n ? 'true' : 'false' }));
      return true;
    }
    if (req.method === 'GET' && req.url === '/metrics') {
      metrics.hasLeader.set(s.leader !== 0n ? 1 : 0);
      metrics.isLeader.set(s.isLeader ? 1 : 0);
      metrics.proposalsCommitted.set(s.committedIndex);
      metrics.proposalsApplied.set(s.applier.appliedIndex);
      metrics.proposalsPending.set(s.wait.size);
      const size = backend.size();
      metrics.dbTotalSize.set(size.total);
      metrics.dbInUseSize.set(size.inUse);
      metrics.watchers.set(hub.watcherCount);
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
  const http = new Gateway(routes, plain, log).handle;
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
    const host = url.hostname === 'localhost' ? '127.0.0.1' : url.hostname.replace(/^\[|\]$/g, '');
    await l.listen(Number(url.port), host);
    listeners.push(l);
    clientAddresses.push(`${host}:${l.address().port}`);
  }
  log.info('serving client requests', { addresses: clientAddresses, memberId: memberId.toString(16), clusterId: clusterId.toString(16) });

  let stopping: Promise<void> | undefined;
  return {
    server: s,
    clientAddresses,
    stop() {
      stopping ??= (async () => {
        await Promise.all(listeners.map((l) => l.close()));
        grpcServer.close();
        autoCompactor.stop();
        await s.stop();
        hub.close();
        await node.stop();
        await wal.close();
        await backend.close();
      })();
      return stopping;
    },
  };
}
