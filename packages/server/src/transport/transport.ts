import { createWriteStream, promises as fsp } from 'node:fs';
import { connect as netConnect, createServer as createNetServer, isIP, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { TlsFiles } from '../config.js';
import { certificateRefusal, tlsDialOptions, tlsServerOptions } from '../tls.js';
import {
  GrpcCode,
  H2Channel,
  metadata,
  raftpb,
  type Init,
  type HashKVRequest,
  type HashKVResponse,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
} from '@latchkey/proto';
import type { Logger } from '../node/etcd-server.js';
import type { CoreMessage } from '../node/raft-core.js';
import { WireStatusError } from '../api/errors.js';
import { GrpcServer, type ServerCall, type ServiceImpl } from '../api/grpc/h2-server.js';
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
  /** This member's KV hash at a revision (for a restarting peer's --experimental-initial-corrupt-check). */
  hashKV(req: HashKVRequest): Promise<Init<HashKVResponse>>;
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
  tls?: TlsFiles;
}

const SNAPSHOT_CHUNK = 1024 * 1024;
/** Peer RPC channels ping every 2 s while calls are open and give up on a silent peer after 2 s more. */
function peerChannel(target: string, tls: TransportOptions['tls']): H2Channel {
  return new H2Channel(target, {
    tls: tls ? tlsDialOptions(tls, target.slice(0, target.lastIndexOf(':'))) : undefined,
    keepaliveTimeMs: 2000,
    keepaliveTimeoutMs: 2000,
    minBackoffMs: 50,
    maxBackoffMs: 1000,
  });
}

/**
 * The Raft message stream's own wire format (the hot path between members; everything else is gRPC):
 *
 *   client → server, once:   "LKRAFT/1" (8 octets) | cluster id (8, big-endian) | sender member id (8)
 *   client → server, then:   [u32 length][MessageBatch]  [u32 length][MessageBatch]  …
 *   server → client:         [u32 length][u8 kind][payload]  — kind 1: alive (every ALIVE_MS, empty payload),
 *                            kind 2: refused (UTF-8 reason; the server then closes the connection)
 *
 * The preface is 24 octets like HTTP/2's, so a peer listener tells the two apart from the first 24 octets. The
 * alive frames let the sender notice a connection that swallows bytes (a black-holed link, a stopped process):
 * nothing heard for DEAD_MS and the sender drops the connection, reports the peer unreachable and reconnects.
 */
const RAFT_MAGIC = Buffer.from('LKRAFT/1');
const PREFACE_LEN = 24;
const H2_PREFACE_START = Buffer.from('PRI * HTTP/2.0');
const FRAME_ALIVE = 1;
const FRAME_REFUSED = 2;
const ALIVE_MS = 500;
const DEAD_MS = 3000;
const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/** Bytes the socket may hold unsent before a peer's messages wait in its queue instead. */
const SOCKET_HIGH_WATER = 4 * 1024 * 1024;

/**
 * Peer-to-peer traffic on the peer URLs; the only place Raft meets sockets.
 *
 * Raft messages: one long-lived connection per peer in the format above. Messages for a peer are queued
 * (bounded) and written as one MessageBatch per `send` call (the driver calls it once per Ready), so a busy
 * leader writes one frame per peer per batch. A slow or dead peer only fills its own queue: overflow is dropped
 * (Raft retransmits) and reported as unreachable, so it never stalls the leader. Broken connections reconnect
 * with backoff.
 *
 * The rest (snapshots in 1 MiB chunks, forwarded lease requests, the membership for joining members) are gRPC
 * calls, made with our H2Channel (@latchkey/proto) and served by the same HTTP/2 engine as the client API.
 */
export class PeerTransport {
  private readonly grpcServer: GrpcServer;
  private readonly listeners: NetServer[] = [];
  private readonly sockets = new Set<Duplex>();
  private readonly peers = new Map<bigint, PeerConnection>();
  private readonly queueLimit: number;

  constructor(
    private readonly opts: TransportOptions,
    private readonly handlers: TransportHandlers,
  ) {
    this.queueLimit = opts.queueLimit ?? 4096;
    this.grpcServer = new GrpcServer({ maxReceiveBytes: MAX_BATCH_BYTES, log: opts.log });
    this.grpcServer.addService(raftpb.PeerService, this.serviceImpl());
  }

  /** Binds the peer listeners (host:port each). */
  async listen(addresses: string[]): Promise<void> {
    for (const addr of addresses) {
      const i = addr.lastIndexOf(':');
      const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
      const port = Number(addr.slice(i + 1));
      const t = this.opts.tls;
      const server: NetServer = t
        ? createTlsServer(
            { ...tlsServerOptions(t), ALPNProtocols: ['h2'] },
            (socket) => {
              const refusal = certificateRefusal(socket, t);
              if (refusal === undefined) return this.accept(socket);
              this.opts.log.warn('refused a peer connection', { reason: refusal, from: socket.remoteAddress });
              socket.destroy();
            },
          )
        : createNetServer({ noDelay: true }, (socket) => this.accept(socket));
      if (t) server.on('tlsClientError', () => undefined);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.listeners.push(server);
    }
  }

  setPeer(id: bigint, urls: readonly string[]): void {
    if (id === this.opts.memberId) return;
    const target = urls.map((u) => new URL(u)).map((u) => `${u.hostname}:${u.port}`)[0];
    if (!target) return;
    const existing = this.peers.get(id);
    if (existing?.target === target) return;
    existing?.close();
    const p = new PeerConnection(id, target, this.opts, this.handlers, this.queueLimit);
    this.peers.set(id, p);
    p.connect();
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
   * Never blocks: a peer whose connection is backed up keeps its messages queued (bounded).
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
    for (const p of touched) p.flush();
  }

  /**
   * For each peer: how long our stream to it has been up and hearing from it (alive frames or answers), in ms;
   * 0 when it is not. Every member keeps a stream to every peer (see `PeerConnection.connect`).
   */
  connectedFor(): Map<bigint, number> {
    const now = performance.now();
    const out = new Map<bigint, number>();
    for (const p of this.peers.values()) {
      const since = p.activeSince(now);
      out.set(p.id, since === undefined ? 0 : now - since);
    }
    return out;
  }

  /** A peer's KV hash at `revision` (its errors as they come: FutureRev, Compacted, or a transport failure). */
  peerHashKV(to: bigint, revision: bigint, deadlineMs: number): Promise<HashKVResponse> {
    const p = this.peers.get(to);
    if (!p) return Promise.reject(new Error(`transport: unknown peer ${to.toString(16)}`));
    return p.unary(raftpb.PeerService.HashKV, { revision }, deadlineMs);
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
    this.grpcServer.close();
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.listeners.map((l) => new Promise<void>((r) => l.close(() => r()))));
  }

  /** A new connection on a peer port: the first 24 octets say whether it is a Raft stream or HTTP/2 (gRPC). */
  private accept(socket: Socket | TLSSocket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      if (head.length < PREFACE_LEN) return;
      socket.off('data', onData);
      if (head.subarray(0, RAFT_MAGIC.length).equals(RAFT_MAGIC)) this.receiveRaftStream(socket, head);
      else if (head.subarray(0, H2_PREFACE_START.length).equals(H2_PREFACE_START)) this.grpcServer.serveCleartext(socket, head);
      else socket.destroy();
    };
    socket.on('data', onData);
  }

  /** The receiving end of a peer's Raft stream. */
  private receiveRaftStream(socket: Socket | TLSSocket, head: Buffer): void {
    const { clusterId, log } = this.opts;
    const h = this.handlers;
    const from = head.readBigUInt64BE(16);
    const refuse = (reason: string): void => {
      const r = Buffer.from(reason, 'utf8');
      const f = Buffer.allocUnsafe(5 + r.length);
      f.writeUInt32BE(1 + r.length, 0);
      f[4] = FRAME_REFUSED;
      r.copy(f, 5);
      socket.end(f);
      clearInterval(alive);
    };
    const alive = setInterval(() => {
      if (socket.writable) socket.write(ALIVE_FRAME);
    }, ALIVE_MS);
    socket.once('close', () => clearInterval(alive));
    if (head.readBigUInt64BE(8) !== clusterId) {
      log.warn('rejected peer stream from another cluster', { clusterId: head.readBigUInt64BE(8).toString(16) });
      return refuse(CLUSTER_MISMATCH);
    }
    if (h.isRemoved?.(from)) return refuse(REMOVED_MESSAGE);
    socket.write(ALIVE_FRAME);
    let buf: Buffer = head.subarray(PREFACE_LEN);
    let done = false;
    const onData = (chunk?: Buffer): void => {
      if (done) return;
      if (chunk) buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (len > MAX_BATCH_BYTES) {
          done = true;
          socket.destroy();
          return;
        }
        if (buf.length < 4 + len) break;
        const body = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        if (h.isRemoved?.(from)) {
          done = true;
          return refuse(REMOVED_MESSAGE);
        }
        let batch: raftpb.MessageBatch;
        try {
          batch = raftpb.MessageBatch.decode(body);
        } catch {
          done = true;
          socket.destroy();
          return;
        }
        h.onMessages(batch.messages.map(messageFromProto));
      }
    };
    socket.on('data', onData);
    if (buf.length > 0) onData();
  }

  private serviceImpl(): ServiceImpl<typeof raftpb.PeerService> {
    const { clusterId } = this.opts;
    const h = this.handlers;
    return {
      Stream: (call: ServerCall) => {
        // Raft messages travel on the raw stream; this gRPC method is kept only so the service is complete.
        call.fail(new WireStatusError({ code: GrpcCode.UNIMPLEMENTED, message: 'transport: use the Raft stream' }));
      },
      InstallSnapshot: (c: ServerCall) => {
        const call = c as ServerCall<raftpb.SnapshotChunk, Init<raftpb.SnapshotAck>>;
        const file = join(this.opts.scratchDir, `incoming-${Date.now()}-${Math.random().toString(16).slice(2)}.snap`);
        const out = createWriteStream(file);
        let msg: CoreMessage | undefined;
        let failed = false;
        const fail = (err: unknown): void => {
          if (failed) return;
          failed = true;
          out.destroy();
          void fsp.rm(file, { force: true });
          call.write({ ok: false, error: String(err) });
          call.end();
        };
        call.on('data', (chunk: raftpb.SnapshotChunk) => {
          if (failed) return;
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
              () => {
                call.write({ ok: true });
                call.end();
              },
              (err: unknown) => fail(err),
            );
          });
        });
        call.on('cancelled', () => {
          if (!failed) {
            failed = true;
            out.destroy();
            void fsp.rm(file, { force: true });
          }
        });
      },
      LeaseRenew: (req: LeaseKeepAliveRequest) => h.leaseRenew(req).catch((err: unknown) => Promise.reject(unavailable(err))),
      LeaseTimeToLive: (req: LeaseTimeToLiveRequest) => h.leaseTimeToLive(req).catch((err: unknown) => Promise.reject(unavailable(err))),
      Members: () => h.members().catch((err: unknown) => Promise.reject(unavailable(err))),
      HashKV: (req: HashKVRequest) => h.hashKV(req),
    };
  }
}

function unavailable(err: unknown): WireStatusError {
  return new WireStatusError({ code: GrpcCode.UNAVAILABLE, message: String(err) });
}

/** What a member answers to a stream from another cluster. */
const CLUSTER_MISMATCH = 'etcdserver: cluster ID mismatch';

const ALIVE_FRAME = Buffer.from([0, 0, 0, 1, FRAME_ALIVE]);

/**
 * Asks the member at a peer URL for the membership (a joining member learns its id and the cluster's this way).
 */
export function fetchMembers(url: string, tls: TransportOptions['tls'], deadlineMs: number): Promise<raftpb.MembersResponse> {
  const u = new URL(url);
  const client = peerChannel(`${u.hostname}:${u.port}`, tls);
  const m = raftpb.PeerService.Members;
  return new Promise<raftpb.MembersResponse>((resolve, reject) =>
    client.makeUnaryRequest<Init<raftpb.MembersRequest>, raftpb.MembersResponse>(
      m.path,
      (v) => m.requestType.encode(v),
      (b) => m.responseType.decode(b),
      {},
      metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, res) => (err || !res ? reject(err ?? new Error('no response')) : resolve(res)),
    ),
  ).finally(() => client.close());
}

/** The sending side towards one peer. */
class PeerConnection {
  private readonly client: H2Channel;
  private socket: Socket | TLSSocket | undefined;
  private queue: CoreMessage[] = [];
  private closed = false;
  /** The socket holds more than SOCKET_HIGH_WATER unsent bytes: messages wait in the queue for 'drain'. */
  private blocked = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs = 50;
  private droppedReported = false;
  /** performance.now() of the last frame heard from the peer on the current connection. */
  private lastHeard = 0;
  /** performance.now() of the first frame heard on the current connection; undefined before it or without one. */
  private heardSince: number | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly host: string;
  private readonly port: number;

  constructor(
    readonly id: bigint,
    readonly target: string,
    private readonly opts: TransportOptions,
    private readonly handlers: TransportHandlers,
    private readonly queueLimit: number,
  ) {
    const t = opts.tls;
    this.client = peerChannel(target, t);
    const i = target.lastIndexOf(':');
    this.host = target.slice(0, i).replace(/^\[|\]$/g, '');
    this.port = Number(target.slice(i + 1));
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

  /**
   * Opens the Raft stream now, without waiting for a message to send, and keeps it open (`broken` reconnects):
   * every member keeps a stream to every peer, as etcd's transport does, so that each knows whom it is connected
   * to (`activeSince`, for --strict-reconfig-check) whatever its role.
   */
  connect(): void {
    if (!this.closed && !this.reconnectTimer) this.ensureSocket();
  }

  /** Writes what is queued as one batch (unless the connection is backed up or reconnecting: then it waits). */
  flush(): void {
    if (this.closed || this.queue.length === 0 || this.blocked || this.reconnectTimer) return;
    const s = this.ensureSocket();
    const msgs = this.queue;
    this.queue = [];
    this.droppedReported = false;
    const body = raftpb.MessageBatch.encode({ messages: msgs.map(messageToProto) });
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(body.length, 0);
    s.cork();
    s.write(head);
    s.write(body);
    s.uncork();
    if (s.writableLength > SOCKET_HIGH_WATER) {
      this.blocked = true;
      s.once('drain', () => {
        if (this.socket !== s) return;
        this.blocked = false;
        this.flush();
      });
    }
  }

  private ensureSocket(): Socket | TLSSocket {
    if (this.socket) return this.socket;
    const t = this.opts.tls;
    const s: Socket | TLSSocket = t
      ? tlsConnect({ host: this.host, port: this.port, ...tlsDialOptions(t, this.host) })
      : netConnect({ host: this.host, port: this.port, noDelay: true });
    s.setNoDelay(true);
    const preface = Buffer.allocUnsafe(PREFACE_LEN);
    RAFT_MAGIC.copy(preface, 0);
    preface.writeBigUInt64BE(this.opts.clusterId, 8);
    preface.writeBigUInt64BE(this.opts.memberId, 16);
    s.write(preface);
    this.socket = s;
    this.lastHeard = performance.now();
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      this.lastHeard = performance.now();
      this.heardSince ??= this.lastHeard;
      this.backoffMs = 50;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (buf.length < 4 + len) break;
        const kind = buf[4];
        const payload = buf.subarray(5, 4 + len);
        buf = buf.subarray(4 + len);
        if (kind === FRAME_REFUSED) {
          const reason = payload.toString('utf8');
          if (reason === REMOVED_MESSAGE) this.handlers.onRemovedFromCluster?.();
          this.opts.log.warn('peer refused the raft stream', { peer: this.id.toString(16), reason });
          this.broken(s);
          return;
        }
      }
    });
    s.on('error', () => this.broken(s));
    s.on('close', () => this.broken(s));
    // A connection that swallows bytes (black-holed link, stopped peer) goes quiet: no alive frames.
    this.watchdog ??= setInterval(() => {
      if (this.socket && performance.now() - this.lastHeard > DEAD_MS) {
        this.opts.log.debug?.('peer raft stream went quiet; reconnecting', { peer: this.id.toString(16) });
        this.broken(this.socket);
      }
    }, ALIVE_MS);
    return s;
  }

  /** When the current connection started hearing from the peer, if it is up and not quiet (see the watchdog). */
  activeSince(now: number): number | undefined {
    return this.socket && this.heardSince !== undefined && now - this.lastHeard <= DEAD_MS ? this.heardSince : undefined;
  }

  private broken(s: Socket | TLSSocket): void {
    if (this.socket !== s) return;
    this.socket = undefined;
    this.heardSince = undefined;
    this.blocked = false;
    s.destroy();
    if (this.closed) return;
    this.handlers.onUnreachable(this.id);
    this.handlers.onPeerDown?.(this.id);
    this.queue = [];
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
      this.flush();
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
            metadata(),
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
        metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, res) => (err || res === undefined ? reject(err ?? new Error('no response')) : resolve(res)),
      );
    });
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.socket?.destroy();
    this.socket = undefined;
    this.client.close();
  }
}
