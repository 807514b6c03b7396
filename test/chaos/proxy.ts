/**
 * A TCP fault proxy on loopback: one listening port in front of one real port (a member's peer or client port),
 * forwarding bytes both ways, with faults set per *source* — so a proxy in front of every member's peer port
 * gives per-direction control of every link between members.
 *
 * ```ts
 * const p = await FaultProxy.start({ name: 'm2', target: 40123, identify: procSourceResolver(() => pidsByName) });
 * p.port;                                  // advertise http://127.0.0.1:<p.port> instead of the real port
 * p.setFault('m1', { kind: 'cut' });       // m1 → m2: connections from m1 reset, new ones reset on accept
 * p.setFault('m3', { kind: 'drop' });      // m3 → m2: accepted, bytes discarded both ways (a blackhole)
 * p.setFault('*', { kind: 'delay', ms: 200 }); // everyone else → m2: bytes held 200 ms
 * p.heal();                                // everything flows again
 * ```
 *
 * Direction: a fault on source A at B's proxy acts on the connections A opens to B — everything A sends to B
 * (Raft messages travel on the sender's own connection; the replies on that connection are A's business and share
 * its fate). B's connections to A are untouched, so `A ↛ B` while `B → A` is an asymmetric partition.
 *
 * Faults:
 *  - `cut`: existing connections from the source are reset; new ones are reset as soon as they are accepted
 *    (the peer sees ECONNRESET, as from a refusing host);
 *  - `drop`: connections are accepted and kept open, but bytes in both directions are discarded. A byte stream
 *    with a hole in it is garbage, so when the drop ends those connections are reset (a real blackhole ends the
 *    same way: the sender's keep-alives time out) and new connections flow normally;
 *  - `delay`: bytes from the source are delivered `ms` later, in order (replies are not delayed: set the fault on
 *    the reverse link for a symmetric delay).
 *
 * Sources are named by `identify` (the chaos suite maps a connection to the member process that opened it with
 * `procSourceResolver`); unidentified connections have the source `client`. A fault on `*` applies to every
 * source without a fault of its own.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import net from 'node:net';

export type LinkFault = { kind: 'cut' } | { kind: 'drop' } | { kind: 'delay'; ms: number };

export interface ProxyOptions {
  /** The destination's name (for logs and errors). */
  name: string;
  /** The real port on 127.0.0.1 to forward to (can be changed later with `retarget`). */
  target: number;
  /** Port to listen on (default: any free port). */
  port?: number;
  /** Names the source of an accepted connection from its remote (ephemeral) port; undefined = `client`. */
  identify?: (remotePort: number, proxyPort: number) => Promise<string | undefined>;
}

export interface ProxyStats {
  accepted: number;
  /** Connections `identify` could not name (they count as `client`). */
  unidentified: number;
  /** Connections reset because of a cut (on accept or when the cut started). */
  reset: number;
  forwardedBytes: number;
  droppedBytes: number;
}

interface Conn {
  source: string;
  down: net.Socket;
  up: net.Socket | undefined;
  /** Bytes were discarded: the stream is broken and is reset when the drop ends. */
  poisoned: boolean;
  /** Delivery time of the last delayed chunk (keeps delayed bytes in order). */
  lastDue: number;
  closed: boolean;
}

export class FaultProxy {
  readonly name: string;
  readonly stats: ProxyStats = { accepted: 0, unidentified: 0, reset: 0, forwardedBytes: 0, droppedBytes: 0 };
  private target: number;
  private readonly faults = new Map<string, LinkFault>();
  private readonly conns = new Set<Conn>();
  private closed = false;

  private constructor(
    private readonly server: net.Server,
    options: ProxyOptions,
  ) {
    this.name = options.name;
    this.target = options.target;
  }

  static async start(options: ProxyOptions): Promise<FaultProxy> {
    const server = net.createServer({ pauseOnConnect: true });
    const proxy = new FaultProxy(server, options);
    server.on('connection', (socket) => void proxy.accept(socket, options.identify));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Forwards new connections to another real port (existing ones are reset). */
  retarget(port: number): void {
    this.target = port;
    this.resetConnections();
  }

  /** Resets every connection (their sources reconnect and are identified anew). */
  resetConnections(): void {
    for (const c of this.conns) this.destroy(c, true);
  }

  /** The fault on connections from `source` (`*`: every source without its own), or undefined to clear it. */
  setFault(source: string, fault: LinkFault | undefined): void {
    if (fault === undefined) this.faults.delete(source);
    else this.faults.set(source, fault);
    for (const c of this.conns) {
      const f = this.faultFor(c.source);
      if (f?.kind === 'cut') {
        this.stats.reset++;
        this.destroy(c, true);
      } else if (f?.kind !== 'drop' && c.poisoned) this.destroy(c, true);
    }
  }

  /** Clears every fault. */
  heal(): void {
    for (const s of [...this.faults.keys()]) this.setFault(s, undefined);
  }

  faultFor(source: string): LinkFault | undefined {
    return this.faults.get(source) ?? this.faults.get('*');
  }

  /** Live connections by source (for tests and diagnostics). */
  connections(): string[] {
    return [...this.conns].map((c) => c.source);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.conns) this.destroy(c, true);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async accept(down: net.Socket, identify: ProxyOptions['identify']): Promise<void> {
    down.on('error', () => undefined);
    if (this.closed) return void down.destroy();
    this.stats.accepted++;
    let source = 'client';
    if (identify && down.remotePort !== undefined) {
      const named = await identify(down.remotePort, this.port).catch(() => undefined);
      if (named === undefined) this.stats.unidentified++;
      else source = named;
    }
    const c: Conn = { source, down, up: undefined, poisoned: false, lastDue: 0, closed: false };
    if (this.closed || down.destroyed) return void down.destroy();
    if (this.faultFor(source)?.kind === 'cut') {
      this.stats.reset++;
      down.resetAndDestroy();
      return;
    }
    this.conns.add(c);
    const up = net.connect({ host: '127.0.0.1', port: this.target });
    c.up = up;
    up.on('error', () => this.destroy(c, false));
    up.on('close', () => this.destroy(c, false));
    down.on('close', () => this.destroy(c, false));
    down.pause(); // paused since accept; stays so until the upstream connection is up
    down.on('data', (chunk: Buffer) => this.forward(c, chunk, true));
    up.on('data', (chunk: Buffer) => this.forward(c, chunk, false));
    up.once('connect', () => down.resume());
  }

  private forward(c: Conn, chunk: Buffer, upstream: boolean): void {
    if (c.closed) return;
    const f = this.faultFor(c.source);
    if (f?.kind === 'cut') return this.destroy(c, true);
    if (f?.kind === 'drop') {
      c.poisoned = true;
      this.stats.droppedBytes += chunk.length;
      return;
    }
    if (c.poisoned) return this.destroy(c, true);
    const to = upstream ? c.up! : c.down;
    if (upstream && f?.kind === 'delay' && f.ms > 0) {
      const due = Math.max(performance.now() + f.ms, c.lastDue);
      c.lastDue = due;
      setTimeout(() => {
        if (c.closed) return;
        this.stats.forwardedBytes += chunk.length;
        to.write(chunk);
      }, due - performance.now()).unref();
      return;
    }
    this.stats.forwardedBytes += chunk.length;
    // Delayed chunks still in flight keep the order: queue behind them.
    if (upstream && c.lastDue > performance.now()) {
      const due = c.lastDue;
      setTimeout(() => !c.closed && to.write(chunk), due - performance.now()).unref();
      return;
    }
    // Backpressure, as TCP would: a receiver that stops reading (a SIGSTOPped member) stalls its sender.
    if (!to.write(chunk)) {
      const from = upstream ? c.down : c.up!;
      from.pause();
      to.once('drain', () => from.resume());
    }
  }

  private destroy(c: Conn, reset: boolean): void {
    if (c.closed) return;
    c.closed = true;
    this.conns.delete(c);
    if (reset) {
      if (!c.down.destroyed) c.down.resetAndDestroy();
      if (c.up && !c.up.destroyed) c.up.resetAndDestroy();
    } else {
      c.down.destroy();
      c.up?.destroy();
    }
  }
}

/**
 * Names the process that opened a loopback connection: finds the socket whose local port is `remotePort` and whose
 * peer is the proxy in /proc/net/tcp, then the process among `candidates()` (pid → name) that holds its inode.
 * Linux only; undefined when not found (for example a process that is not a candidate).
 */
export function procSourceResolver(candidates: () => ReadonlyMap<number, string>): (remotePort: number, proxyPort: number) => Promise<string | undefined> {
  return async (remotePort, proxyPort) => {
    const inode = await socketInode(remotePort, proxyPort);
    if (inode === undefined) return undefined;
    const needle = `socket:[${inode}]`;
    for (const [pid, name] of candidates()) {
      let fds: string[];
      try {
        fds = await readdir(`/proc/${pid}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        try {
          if ((await readlink(`/proc/${pid}/fd/${fd}`)) === needle) return name;
        } catch {
          // closed meanwhile
        }
      }
    }
    return undefined;
  };
}

async function socketInode(localPort: number, remotePort: number): Promise<string | undefined> {
  const local = `0100007F:${localPort.toString(16).toUpperCase().padStart(4, '0')}`;
  const remote = `0100007F:${remotePort.toString(16).toUpperCase().padStart(4, '0')}`;
  let table: string;
  try {
    table = await readFile('/proc/net/tcp', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote) return f[9];
  }
  return undefined;
}
