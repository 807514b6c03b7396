import * as grpc from '@grpc/grpc-js';
import { createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import {

  raftpb,
  type Init,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
} from '@latchkey/proto';
import type { Logger } from '../node/etcd-server.js';
import type { CoreMessage } from '../node/raft-core.js';
import { grpcDefinition } from '../api/grpc/service.js';
import { messageFromProto, messageToProto } from './convert.js';

/** What the transport delivers to, and asks of, the member (wired by the composition root). */
export interface TransportHandlers {
  /** Raft messages received from peers, in arrival order. */
  onMessages(msgs: CoreMessage[]): void;
  /** A snapshot arrived whole: its Raft message, and the file holding the backend copy it describes. */
  onSnapshot(msg: CoreMessage, file: string): Promise<void>;
  /** The connection to a peer broke (or could not be made): Raft's flow control should stop streaming to it. */
  onUnreachable(peer: bigint): void;
  /** A snapshot send finished. */
  onSnapshotStatus(peer: bigint, ok: boolean): void;
  /** Produces the file to stream for an outgoing MsgSnap (a consistent backend copy); removed after sending. */
  snapshotFile(msg: CoreMessage): Promise<string>;
  /** Leader-side handlers for forwarded lease requests. */
  leaseRenew(req: LeaseKeepAliveRequest): Promise<Init<LeaseKeepAliveResponse>>;
  leaseTimeToLive(req: LeaseTimeToLiveRequest): Promise<Init<LeaseTimeToLiveResponse>>;
  /** The membership as this member knows it (for members joining the cluster). */
  members(): Promise<Init<raftpb.MembersResponse>>;
  /** The connection to a peer broke (connection refused or reset): a hint that the peer process may be gone. */
  onPeerDown?(peer: bigint): void;
  /** Whether a member id has been removed from the cluster (its messages are refused, which stops it). */
  isRemoved?(id: bigint): boolean;
  /** A peer told us we were removed from the cluster. */
  onRemovedFromCluster?(): void;
}

/** What a member answers to a removed member's stream; the removed member stops when it sees it. */
export const REMOVED_MESSAGE = 'etcdserver: the member has been permanently removed from the cluster';

export interface TransportOptions {
  memberId: bigint;
  clusterId: bigint;
  /** Decides which outgoing messages carry a snapshot (they travel on their own stream). */
  isSnapshot(m: CoreMessage): boolean;
  /** Directory for snapshots being received. */
  scratchDir: string;
  log: Logger;
  /** Messages a peer's queue may hold before new ones are dropped (Raft retransmits). */
  queueLimit?: number;
  /** Peer TLS (https:// peer URLs): our certificate and key, the CA that signs peers, and mutual verification. */
  tls?: { cert: Buffer; key: Buffer; ca: Buffer | undefined; clientCertAuth: boolean };
}

const SNAPSHOT_CHUNK = 1024 * 1024;
const PEER_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.keepalive_time_ms': 2000,
  'grpc.keepalive_timeout_ms': 2000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 1000,
};

/**
 * Peer-to-peer Raft traffic over gRPC on the peer URLs; the only place Raft meets sockets.
 *
 * Each peer gets one long-lived client stream. Messages for a peer are queued (bounded) and flushed as one
 * MessageBatch per turn of the event loop, so a busy leader sends one message per peer per batch. A slow or dead
 * peer only fills its own queue: overflow is dropped (Raft retransmits) and reported as unreachable, so it never
 * stalls the leader. Broken streams reconnect with backoff. Snapshots stream in 1 MiB chunks on a separate call.
 */
export class PeerTransport {
  private readonly server: grpc.Server;
  private readonly peers = new Map<bigint, PeerConnection>();
  private readonly queueLimit: number;

  constructor(
    private readonly opts: TransportOptions,
    private readonly handlers: TransportHandlers,
  ) {
    this.queueLimit = opts.queueLimit ?? 4096;
    this.server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.keepalive_permit_without_calls': 1, 'grpc.http2.min_ping_interval_without_data_ms': 1000 });
    this.server.addService(grpcDefinition(raftpb.PeerService), this.serviceImpl());
  }

  /** Binds the peer listeners (host:port each). */
  async listen(addresses: string[]): Promise<void> {
    for (const addr of addresses) {
      await new Promise<void>((resolve, reject) => this.server.bindAsync(addr, this.serverCredentials(), (err) => (err ? reject(err) : resolve())));
    }
  }

  private serverCredentials(): grpc.ServerCredentials {
    const t = this.opts.tls;
    if (!t) return grpc.ServerCredentials.createInsecure();
    return grpc.ServerCredentials.createSsl(t.ca ?? null, [{ private_key: t.key, cert_chain: t.cert }], t.clientCertAuth);
  }

  setPeer(id: bigint, urls: readonly string[]): void {
    if (id === this.opts.memberId) return;
    const target = urls.map((u) => new URL(u)).map((u) => `${u.hostname}:${u.port}`)[0];
    if (!target) return;
    const existing = this.peers.get(id);
    if (existing?.target === target) return;
    existing?.close();
    this.peers.set(id, new PeerConnection(id, target, this.opts, this.handlers, this.queueLimit));
  }

  removePeer(id: bigint): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
  }

  hasPeer(id: bigint): boolean {
    return this.peers.has(id);
  }

  /**
   * Queues messages for their destinations and writes each peer's share at once, as one batch: the driver calls
   * this once per Ready, so batching already happened upstream and waiting another turn would only add latency.
   * Never blocks: a peer whose stream is backed up keeps its messages queued (bounded).
   */
  send(msgs: readonly CoreMessage[]): void {
    const touched = new Set<PeerConnection>();
    for (const m of msgs) {
      const p = this.peers.get(m.to);
      if (!p) {
        this.handlers.onUnreachable(m.to);
        continue;
      }
      if (this.opts.isSnapshot(m)) p.sendSnapshot(m);
      else if (p.enqueue(m)) touched.add(p);
    }
    for (const p of touched) p.flushNow();
  }

  forwardLeaseRenew(to: bigint, req: Init<LeaseKeepAliveRequest>, deadlineMs: number): Promise<LeaseKeepAliveResponse> {
    const p = this.peers.get(to);
    if (!p) return Promise.reject(new Error(`transport: unknown peer ${to.toString(16)}`));
    return p.unary(raftpb.PeerService.LeaseRenew, req, deadlineMs);
  }

  forwardLeaseTimeToLive(to: bigint, req: Init<LeaseTimeToLiveRequest>, deadlineMs: number): Promise<LeaseTimeToLiveResponse> {
    const p = this.peers.get(to);
    if (!p) return Promise.reject(new Error(`transport: unknown peer ${to.toString(16)}`));
    return p.unary(raftpb.PeerService.LeaseTimeToLive, req, deadlineMs);
  }

  async stop(): Promise<void> {
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    this.server.forceShutdown();
  }

  private serviceImpl(): grpc.UntypedServiceImplementation {
    const { clusterId, log } = this.opts;
    const h = this.handlers;
    return {
      Stream: (call: grpc.ServerReadableStream<raftpb.MessageBatch, raftpb.StreamAck>, cb: grpc.sendUnaryData<Init<raftpb.StreamAck>>) => {
        let done = false;
        call.on('data', (batch: raftpb.MessageBatch) => {
          if (done) return;
          if (batch.clusterId !== clusterId) {
            log.warn('rejected peer stream from another cluster', { clusterId: batch.clusterId.toString(16) });
            done = true;
            cb({ code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: cluster ID mismatch' });
            return;
          }
          const from = batch.messages[0]?.from;
          if (from !== undefined && h.isRemoved?.(from)) {
            done = true;
            cb({ code: grpc.status.FAILED_PRECONDITION, details: REMOVED_MESSAGE });
            return;
          }
          h.onMessages(batch.messages.map(messageFromProto));
        });
        call.on('end', () => {
          if (!done) cb(null, {});
        });
        call.on('error', () => undefined);
      },
      InstallSnapshot: (call: grpc.ServerReadableStream<raftpb.SnapshotChunk, raftpb.SnapshotAck>, cb: grpc.sendUnaryData<Init<raftpb.SnapshotAck>>) => {
        const file = join(this.opts.scratchDir, `incoming-${Date.now()}-${Math.random().toString(16).slice(2)}.snap`);
        const out = createWriteStream(file);
        let msg: CoreMessage | undefined;
        let failed = false;
        const fail = (err: unknown): void => {
          if (failed) return;
          failed = true;
          out.destroy();
          void fsp.rm(file, { force: true });
          cb(null, { ok: false, error: String(err) });
        };
        call.on('data', (chunk: raftpb.SnapshotChunk) => {
          if (chunk.clusterId !== clusterId) return fail(new Error('snapshot from another cluster'));
          if (chunk.message) msg = messageFromProto(chunk.message);
          if (chunk.data.length > 0 && !out.write(chunk.data)) {
            call.pause();
            out.once('drain', () => call.resume());
          }
        });
        call.on('end', () => {
          if (failed) return;
          out.end(() => {
            if (!msg) return fail(new Error('snapshot stream without a raft message'));
            h.onSnapshot(msg, file).then(
              () => cb(null, { ok: true }),
              (err: unknown) => fail(err),
            );
          });
        });
        call.on('error', (err) => fail(err));
      },
      LeaseRenew: (call: grpc.ServerUnaryCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>, cb: grpc.sendUnaryData<Init<LeaseKeepAliveResponse>>) => {
        h.leaseRenew(call.request).then((r) => cb(null, r), (err: unknown) => cb({ code: grpc.status.UNAVAILABLE, details: String(err) }));
      },
      LeaseTimeToLive: (call: grpc.ServerUnaryCall<LeaseTimeToLiveRequest, LeaseTimeToLiveResponse>, cb: grpc.sendUnaryData<Init<LeaseTimeToLiveResponse>>) => {
        h.leaseTimeToLive(call.request).then((r) => cb(null, r), (err: unknown) => cb({ code: grpc.status.UNAVAILABLE, details: String(err) }));
      },
      Members: (_call: grpc.ServerUnaryCall<raftpb.MembersRequest, raftpb.MembersResponse>, cb: grpc.sendUnaryData<Init<raftpb.MembersResponse>>) => {
        h.members().then((r) => cb(null, r), (err: unknown) => cb({ code: grpc.status.UNAVAILABLE, details: String(err) }));
      },
    };
  }
}

/**
 * Asks the member at a peer URL for the membership (a joining member learns its id and the cluster's this way).
 */
export function fetchMembers(url: string, tls: TransportOptions['tls'], deadlineMs: number): Promise<raftpb.MembersResponse> {
  const u = new URL(url);
  const creds = tls ? grpc.credentials.createSsl(tls.ca ?? null, tls.key, tls.cert) : grpc.credentials.createInsecure();
  const client = new grpc.Client(`${u.hostname}:${u.port}`, creds);
  const m = raftpb.PeerService.Members;
  return new Promise<raftpb.MembersResponse>((resolve, reject) =>
    client.makeUnaryRequest<Init<raftpb.MembersRequest>, raftpb.MembersResponse>(
      m.path,
      (v) => m.requestType.encode(v),
      (b) => m.responseType.decode(b),
      {},
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, res) => (err || !res ? reject(err ?? new Error('no response')) : resolve(res)),
    ),
  ).finally(() => client.close());
}

/** The sending side towards one peer. */
class PeerConnection {
  private readonly client: grpc.Client;
  private stream: grpc.ClientWritableStream<Init<raftpb.MessageBatch>> | undefined;
  private queue: CoreMessage[] = [];
  private flushScheduled = false;
  private closed = false;
  private blocked = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs = 50;
  private droppedReported = false;

  constructor(
    readonly id: bigint,
    readonly target: string,
    private readonly opts: TransportOptions,
    private readonly handlers: TransportHandlers,
    private readonly queueLimit: number,
  ) {
    const t = opts.tls;
    const creds = t ? grpc.credentials.createSsl(t.ca ?? null, t.key, t.cert) : grpc.credentials.createInsecure();
    this.client = new grpc.Client(target, creds, PEER_CHANNEL_OPTIONS);
  }

  /** Queues a message; false if it was dropped (closed, or the queue is full). */
  enqueue(m: CoreMessage): boolean {
    if (this.closed) return false;
    if (this.queue.length >= this.queueLimit) {
      // A slow peer must not make the leader buffer without bound: drop, and let Raft slow down for it.
      if (!this.droppedReported) {
        this.droppedReported = true;
        this.handlers.onUnreachable(this.id);
      }
      return false;
    }
    this.queue.push(m);
    return true;
  }

  /** Writes what is queued now (unless the stream is backed up or reconnecting: then it goes when it can). */
  flushNow(): void {
    if (this.blocked || this.reconnectTimer) return;
    this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.blocked) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.closed || this.queue.length === 0 || this.blocked) return;
    const s = this.ensureStream();
    if (!s) return;
    const msgs = this.queue;
    this.queue = [];
    this.droppedReported = false;
    const ok = s.write({ clusterId: this.opts.clusterId, messages: msgs.map(messageToProto) });
    if (!ok) {
      this.blocked = true;
      s.once('drain', () => {
        this.blocked = false;
        this.scheduleFlush();
      });
    }
  }

  private ensureStream(): grpc.ClientWritableStream<Init<raftpb.MessageBatch>> | undefined {
    if (this.stream) return this.stream;
    if (this.reconnectTimer) return undefined;
    const m = raftpb.PeerService.Stream;
    const stream = this.client.makeClientStreamRequest<Init<raftpb.MessageBatch>, raftpb.StreamAck>(
      m.path,
      (v) => m.requestType.encode(v),
      (b) => m.responseType.decode(b),
      new grpc.Metadata(),
      {},
      (err) => {
        if (err?.details === REMOVED_MESSAGE) this.handlers.onRemovedFromCluster?.();
        this.broken(stream);
      },
    );
    stream.on('error', () => this.broken(stream));
    this.stream = stream;
    this.backoffMs = 50;
    return stream;
  }

  private broken(stream: grpc.ClientWritableStream<Init<raftpb.MessageBatch>>): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    this.blocked = false;
    if (this.closed) return;
    this.handlers.onUnreachable(this.id);
    this.handlers.onPeerDown?.(this.id);
    this.queue = [];
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.scheduleFlush();
    }, this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 1000);
  }

  sendSnapshot(m: CoreMessage): void {
    void (async () => {
      let file: string | undefined;
      try {
        file = await this.handlers.snapshotFile(m);
        const fh = await fsp.open(file, 'r');
        const svc = raftpb.PeerService.InstallSnapshot;
        const ack = await new Promise<raftpb.SnapshotAck>((resolve, reject) => {
          const call = this.client.makeClientStreamRequest<Init<raftpb.SnapshotChunk>, raftpb.SnapshotAck>(
            svc.path,
            (v) => svc.requestType.encode(v),
            (b) => svc.responseType.decode(b),
            new grpc.Metadata(),
            {},
            (err, res) => (err || !res ? reject(err ?? new Error('no ack')) : resolve(res)),
          );
          void (async () => {
            const buf = Buffer.allocUnsafe(SNAPSHOT_CHUNK);
            let first = true;
            for (;;) {
              const { bytesRead } = await fh.read(buf, 0, SNAPSHOT_CHUNK, null);
              const chunk: Init<raftpb.SnapshotChunk> = { clusterId: this.opts.clusterId, data: Buffer.from(buf.subarray(0, bytesRead)) };
              if (first) chunk.message = messageToProto(m);
              first = false;
              if (!call.write(chunk)) await new Promise((r) => call.once('drain', r));
              if (bytesRead === 0) break;
            }
            call.end();
          })().catch(reject);
        }).finally(() => fh.close());
        this.handlers.onSnapshotStatus(this.id, ack.ok);
        if (!ack.ok) this.opts.log.warn('peer rejected snapshot', { peer: this.id.toString(16), error: ack.error });
      } catch (err) {
        this.opts.log.warn('failed to send snapshot', { peer: this.id.toString(16), err: String(err) });
        this.handlers.onSnapshotStatus(this.id, false);
      } finally {
        if (file) await fsp.rm(file, { force: true });
      }
    })();
  }

  unary<Req, Res>(m: { path: string; requestType: { encode(v: Init<Req>): Buffer }; responseType: { decode(b: Uint8Array): Res } }, req: Init<Req>, deadlineMs: number): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<Init<Req>, Res>(
        m.path,
        (v) => m.requestType.encode(v),
        (b) => m.responseType.decode(b),
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, res) => (err || res === undefined ? reject(err ?? new Error('no response')) : resolve(res)),
      );
    });
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stream?.end();
    this.stream = undefined;
    this.client.close();
  }
}
