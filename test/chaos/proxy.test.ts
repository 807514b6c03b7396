/**
 * The chaos suite's fault proxy with real sockets: an echo server behind the proxy, clients named by their local
 * port (and one child process named through /proc), and cut, drop, delay and heal observed on the wire.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ChaosNetwork } from './net.js';
import { FaultProxy, procSourceResolver } from './proxy.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function echoServer(): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

/** Sources named by the client's local port. */
const names = new Map<number, string>();

async function proxy(): Promise<FaultProxy> {
  // Names are per test: an earlier test's entry for a local port the kernel hands out again would otherwise name
  // this test's socket before its own 'connect' does (seen in CI: b identified as an earlier a, and delayed).
  names.clear();
  // The client learns its local port on 'connect', which may come after the proxy's accept: wait for the name.
  const identify = async (remotePort: number): Promise<string | undefined> => {
    for (let i = 0; i < 50 && !names.has(remotePort); i++) await new Promise((r) => setTimeout(r, 5));
    return names.get(remotePort);
  };
  const p = await FaultProxy.start({ name: 'dst', target: await echoServer(), identify });
  cleanup.push(() => p.close());
  return p;
}

interface Peer {
  socket: net.Socket;
  received: string;
  closed: Promise<string>;
  /** Sends `text` and resolves with the time its echo took, or rejects after `timeoutMs`. */
  roundTrip(text: string, timeoutMs?: number): Promise<number>;
}

/** Connects to the proxy as `name` (registered before the proxy identifies the socket). */
function connect(port: number, name: string): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const socket = new net.Socket();
    socket.once('error', reject);
    // Bind first so the local port is known before the proxy looks it up.
    socket.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    let closeReason = 'close';
    socket.on('error', (e: NodeJS.ErrnoException) => (closeReason = e.code ?? e.message));
    const closed = new Promise<string>((r) => socket.once('close', () => r(closeReason)));
    const peer: Peer = {
      socket,
      received: '',
      closed,
      roundTrip(text, timeoutMs = 1_000) {
        const start = performance.now();
        const want = peer.received.length + text.length;
        socket.write(text);
        return new Promise((res, rej) => {
          const timer = setTimeout(() => {
            socket.off('data', check);
            rej(new Error(`no echo of ${text} within ${timeoutMs} ms`));
          }, timeoutMs);
          const check = (): void => {
            if (peer.received.length >= want) {
              clearTimeout(timer);
              socket.off('data', check);
              res(performance.now() - start);
            }
          };
          socket.on('data', check);
        });
      },
    };
    socket.on('data', (b: Buffer) => (peer.received += b.toString()));
    socket.once('connect', () => {
      names.set(socket.localPort!, name);
      socket.off('error', reject);
      resolve(peer);
    });
  });
}

const named = connect;

describe('chaos proxy - faults on real sockets', () => {
  it('forwards both ways when healthy', async () => {
    const p = await proxy();
    const a = await named(p.port, 'a');
    await a.roundTrip('hello');
    expect(a.received).toBe('hello');
  });

  it('cut: resets the source’s connections and refuses new ones, other sources unaffected, heal restores', async () => {
    const p = await proxy();
    const a = await named(p.port, 'a');
    const b = await named(p.port, 'b');
    await a.roundTrip('x');
    await b.roundTrip('y');
    expect(p.connections().sort()).toEqual(['a', 'b']);
    p.setFault('a', { kind: 'cut' });
    expect(await a.closed).toBe('ECONNRESET');
    await b.roundTrip('still');
    // A new connection from a: accepted by the kernel, reset by the proxy once it knows the source.
    const a2 = await connect(p.port, 'a');
    const outcome = await Promise.race([a2.closed, a2.roundTrip('z', 1_500).then(() => 'echoed')]);
    expect(outcome).not.toBe('echoed');
    p.heal();
    const a3 = await named(p.port, 'a');
    await a3.roundTrip('back');
  });

  it('drop: accepted and open but nothing gets through; healing resets the broken streams, new ones work', async () => {
    const p = await proxy();
    const a = await named(p.port, 'a');
    await a.roundTrip('1');
    p.setFault('a', { kind: 'drop' });
    await expect(a.roundTrip('2', 400)).rejects.toThrow(/no echo/);
    expect(a.socket.destroyed).toBe(false);
    expect(p.stats.droppedBytes).toBeGreaterThan(0);
    const a2 = await named(p.port, 'a');
    await expect(a2.roundTrip('3', 400)).rejects.toThrow(/no echo/);
    p.setFault('a', undefined);
    expect(await a.closed).toBe('ECONNRESET');
    const a3 = await named(p.port, 'a');
    await a3.roundTrip('4');
  });

  it('delay: bytes from the source arrive late and in order; `*` applies to sources without their own fault', async () => {
    const p = await proxy();
    const a = await named(p.port, 'a');
    const b = await named(p.port, 'b');
    p.setFault('a', { kind: 'delay', ms: 250 });
    const slow = await a.roundTrip('abc');
    expect(slow).toBeGreaterThanOrEqual(240);
    a.socket.write('1');
    a.socket.write('2');
    await a.roundTrip('3', 2_000);
    expect(a.received).toBe('abc123');
    expect(await b.roundTrip('fast')).toBeLessThan(200);
    p.setFault('*', { kind: 'delay', ms: 200 });
    expect(await b.roundTrip('now slow')).toBeGreaterThanOrEqual(190);
    p.heal();
    expect(await b.roundTrip('fast again')).toBeLessThan(150);
  });

  it('names a child process through /proc and applies its fault only to it', async () => {
    const p0 = await echoServer();
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    cleanup.push(() => void child.kill('SIGKILL'));
    const me = process.pid;
    const p = await FaultProxy.start({
      name: 'dst',
      target: p0,
      identify: procSourceResolver(() => new Map([[me, 'self'], [child.pid!, 'child']])),
    });
    cleanup.push(() => p.close());
    const a = await connect(p.port, 'ignored');
    await a.roundTrip('hi');
    expect(p.connections()).toEqual(['self']);
    p.setFault('child', { kind: 'cut' });
    await a.roundTrip('unaffected');
    p.setFault('self', { kind: 'cut' });
    expect(await a.closed).toBe('ECONNRESET');
  });
});

describe('chaos network - partitions as link faults', () => {
  async function network(n: number): Promise<{ net: ChaosNetwork; names: string[] }> {
    const net = new ChaosNetwork(() => new Map());
    cleanup.push(() => net.close());
    const names = Array.from({ length: n }, (_, i) => `m${i + 1}`);
    // Targets are never dialled here: only the fault tables are inspected.
    for (const name of names) await net.advertise({ name, clientPort: 1, peerPort: 1 });
    return { net, names };
  }
  const reach = (net: ChaosNetwork, names: string[], from: string): string[] => names.filter((to) => to !== from && net.linkFault(from, to) === undefined);

  it('isolate cuts both directions of one member only; heal clears everything', async () => {
    const { net, names } = await network(3);
    net.isolate('m2', ['m1', 'm3'], 'drop');
    expect(reach(net, names, 'm2')).toEqual([]);
    expect(reach(net, names, 'm1')).toEqual(['m3']);
    expect(net.linkFault('m1', 'm2')).toEqual({ kind: 'drop' });
    net.heal();
    expect(reach(net, names, 'm2')).toEqual(['m1', 'm3']);
  });

  it('one-way: the victim cannot send but still receives (or the reverse)', async () => {
    const { net, names } = await network(3);
    net.oneWay('m1', ['m2', 'm3'], 'cut');
    expect(reach(net, names, 'm1')).toEqual([]);
    expect(reach(net, names, 'm2')).toEqual(['m1', 'm3']);
    net.heal();
    net.oneWay('m1', ['m2', 'm3'], 'cut', true);
    expect(reach(net, names, 'm1')).toEqual(['m2', 'm3']);
    expect(reach(net, names, 'm2')).toEqual(['m3']);
  });

  it.each([3, 4, 5, 7])('majorities ring of %i: everyone reaches a majority, no two the same set', async (n) => {
    const { net, names } = await network(n);
    net.ring(names, 'drop');
    const majority = Math.floor(n / 2) + 1;
    const sets = names.map((m) => [m, ...reach(net, names, m)].sort().join(','));
    for (const s of sets) expect(s.split(',').length).toBeGreaterThanOrEqual(majority);
    expect(new Set(sets).size).toBe(n);
    // Not fully connected: someone is cut off from someone.
    expect(sets.some((s) => s.split(',').length < n)).toBe(true);
  });
});
