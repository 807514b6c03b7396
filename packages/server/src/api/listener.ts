import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { TlsFiles } from '../config.js';
import { certificateRefusal, tlsServerOptions } from '../tls.js';
import type { GrpcServer } from './grpc/h2-server.js';
import { gateHttp2 } from './h2-gate.js';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * One client port serving both gRPC and the JSON gateway, as etcd does.
 * - Plain (http:// URLs): the first bytes of each connection decide, as etcd's cmux does: the HTTP/2 preface
 *   goes to the gRPC server (h2c, prior knowledge), anything else to the HTTP/1.1 gateway.
 * - TLS (https:// URLs): ALPN decides: "h2" goes to the gRPC server (which hands requests that are not
 *   application/grpc to the gateway), anything else to the HTTP/1.1 gateway. With client-cert-auth, clients
 *   must present a certificate signed by the trusted CA.
 */
export class ClientListener {
  private readonly net: NetServer;
  private readonly http: HttpServer;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly grpc: GrpcServer,
    httpHandler: (req: IncomingMessage, res: ServerResponse) => void,
    tls?: TlsFiles,
  ) {
    this.http = createHttpServer({ keepAliveTimeout: 60_000 }, httpHandler);
    if (!tls) {
      this.net = createNetServer({ noDelay: true }, (socket) => this.route(socket));
      return;
    }
    this.net = createTlsServer(
      { ...tlsServerOptions(tls), ALPNProtocols: ['h2', 'http/1.1'] },
      (socket: TLSSocket) => {
        if (certificateRefusal(socket, tls) !== undefined) {
          socket.destroy();
          return;
        }
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.on('error', () => socket.destroy());
        socket.setNoDelay(true);
        if (socket.alpnProtocol === 'h2') this.readPreface(socket);
        else this.http.emit('connection', socket);
      },
    );
    this.net.on('tlsClientError', () => undefined);
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.net.once('error', reject);
      this.net.listen(port, host, () => {
        this.net.off('error', reject);
        resolve();
      });
    });
  }

  address(): { port: number; address: string } {
    return this.net.address() as { port: number; address: string };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.http.closeAllConnections();
    await new Promise<void>((r) => this.net.close(() => r()));
  }

  /** TLS connections negotiated "h2": read the client preface, then pass through the HTTP/2 gate. */
  private readPreface(socket: TLSSocket): void {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < H2_PREFACE.length) return;
      socket.off('data', onData);
      gateHttp2(socket, head, (conn) => this.grpc.injectConnection(conn));
    };
    socket.on('data', onData);
  }

  private route(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, H2_PREFACE.length);
      const isH2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      // Decide as soon as the bytes seen rule one protocol out (or the whole preface has arrived).
      if (isH2 && head.length < H2_PREFACE.length) return;
      socket.off('data', onData);
      if (isH2) {
        // Cleartext HTTP/2 is gRPC (as etcd's cmux routes it): served by our own HTTP/2 engine.
        this.grpc.serveCleartext(socket, head);
      } else {
        socket.pause();
        socket.unshift(head);
        this.http.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  }
}
