import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { GO_CODE_NAMES } from '@latchkey/proto';

/**
 * Prometheus metrics, named as etcd names them where etcd has an equivalent (so existing dashboards and alerts
 * work), plus latchkey's own under `latchkey_`. One registry per member; served at GET /metrics.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly hasLeader = new Gauge({ name: 'etcd_server_has_leader', help: 'Whether or not a leader exists. 1 is existence, 0 is not.', registers: [this.registry] });
  readonly isLeader = new Gauge({ name: 'etcd_server_is_leader', help: 'Whether or not this member is a leader. 1 if is, 0 otherwise.', registers: [this.registry] });
  readonly leaderChanges = new Counter({ name: 'etcd_server_leader_changes_seen_total', help: 'The number of leader changes seen.', registers: [this.registry] });
  readonly proposalsCommitted = new Gauge({ name: 'etcd_server_proposals_committed_total', help: 'The total number of consensus proposals committed.', registers: [this.registry] });
  readonly proposalsApplied = new Gauge({ name: 'etcd_server_proposals_applied_total', help: 'The total number of consensus proposals applied.', registers: [this.registry] });
  readonly proposalsPending = new Gauge({ name: 'etcd_server_proposals_pending', help: 'The current number of pending proposals to commit.', registers: [this.registry] });
  readonly proposalsFailed = new Counter({ name: 'etcd_server_proposals_failed_total', help: 'The total number of failed proposals seen.', registers: [this.registry] });
  readonly dbTotalSize = new Gauge({ name: 'etcd_mvcc_db_total_size_in_bytes', help: 'Total size of the underlying database physically allocated in bytes.', registers: [this.registry] });
  readonly dbInUseSize = new Gauge({ name: 'etcd_mvcc_db_total_size_in_use_in_bytes', help: 'Total size of the underlying database logically in use in bytes.', registers: [this.registry] });
  readonly walFsync = new Histogram({
    name: 'etcd_disk_wal_fsync_duration_seconds',
    help: 'The latency distributions of fsync called by WAL.',
    buckets: [0.0001, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192],
    registers: [this.registry],
  });
  readonly backendCommit = new Histogram({
    name: 'etcd_disk_backend_commit_duration_seconds',
    help: 'The latency distributions of commit called by backend.',
    buckets: [0.0001, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192],
    registers: [this.registry],
  });
  /** Counted per call as plain numbers; copied into the two counters below when /metrics is scraped. */
  readonly grpcCalls = new GrpcCallCounts();
  readonly grpcHandled = new Counter({
    name: 'grpc_server_handled_total',
    help: 'Total number of RPCs completed on the server, regardless of success or failure.',
    labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'] as const,
    registers: [this.registry],
    collect: () => {
      this.grpcHandled.reset();
      for (const e of this.grpcCalls.entries()) {
        e.handled.forEach((n, code) => {
          if (n > 0) this.grpcHandled.inc({ ...e.labels, grpc_code: GO_CODE_NAMES[code] ?? String(code) }, n);
        });
      }
    },
  });
  readonly grpcStarted = new Counter({
    name: 'grpc_server_started_total',
    help: 'Total number of RPCs started on the server.',
    labelNames: ['grpc_type', 'grpc_service', 'grpc_method'] as const,
    registers: [this.registry],
    collect: () => {
      this.grpcStarted.reset();
      for (const e of this.grpcCalls.entries()) if (e.started > 0) this.grpcStarted.inc(e.labels, e.started);
    },
  });
  readonly watchers = new Gauge({ name: 'etcd_debugging_mvcc_watcher_total', help: 'Total number of watchers.', registers: [this.registry] });
  readonly lockWaiters = new Gauge({ name: 'latchkey_lock_waiters', help: 'Lock requests waiting in the Lock service, by lock name.', labelNames: ['name'] as const, registers: [this.registry] });
  readonly lockHandoff = new Histogram({
    name: 'latchkey_lock_handoff_seconds',
    help: 'Time from a Lock service holder releasing (or losing) a lock to the next waiter holding it.',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}

interface GrpcMethodLike {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
}

interface GrpcCallEntry {
  labels: { grpc_type: string; grpc_service: string; grpc_method: string };
  started: number;
  /** Indexed by gRPC status code. */
  handled: number[];
}

/**
 * Started/handled call counts per method (and code), kept as plain numbers: prom-client hashes label objects on
 * every `inc`, which costs more than a unary call's own work on the hot path.
 */
export class GrpcCallCounts {
  private readonly byMethod = new Map<GrpcMethodLike, GrpcCallEntry>();

  started(m: GrpcMethodLike): void {
    this.entry(m).started++;
  }

  handled(m: GrpcMethodLike, code: number): void {
    const h = this.entry(m).handled;
    h[code] = (h[code] ?? 0) + 1;
  }

  entries(): IterableIterator<GrpcCallEntry> {
    return this.byMethod.values();
  }

  private entry(m: GrpcMethodLike): GrpcCallEntry {
    let e = this.byMethod.get(m);
    if (!e) {
      const [, service = '', method = ''] = m.path.split('/');
      const grpc_type = m.requestStream ? (m.responseStream ? 'bidi_stream' : 'client_stream') : m.responseStream ? 'server_stream' : 'unary';
      e = { labels: { grpc_type, grpc_service: service, grpc_method: method }, started: 0, handled: [] };
      this.byMethod.set(m, e);
    }
    return e;
  }
}

