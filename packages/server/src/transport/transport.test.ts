import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TlsFiles } from '../config.js';
import type { CoreMessage } from '../node/raft-core.js';
import { PeerTransport, fetchMembers, type TransportHandlers } from './transport.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const SNAP = 7;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function msg(to: bigint, from: bigint, index: number, type = 3): CoreMessage {
  return { type, to, from, term: 2, logTerm: 1, index, entries: [{ term: 2, index: index + 1, type: 0, data: Buffer.from(`e${index}`) }], commit: index, reject: false, rejectHint: 0, context: new Uint8Array(0), commitOnly: false };
}

interface Member {
  t: PeerTransport;
  url: string;
  received: CoreMessage[];
  unreachable: bigint[];
  snapshots: { msg: CoreMessage; content: string }[];
  statuses: [bigint, boolean][];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const fixture = (n: string) => readFileSync(join(new URL('.', import.meta.url).pathname, '../../../../test/fixtures/tls', n));
const tlsAs = (name: string, ca = true): TlsFiles => ({ cert: fixture(`${name}.crt`), key: fixture(`${name}.key`), ca: ca ? fixture('ca.crt') : undefined, clientCertAuth: true });

async function member(id: bigint, clusterId = 1n, tls?: TlsFiles): Promise<Member> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'transport-'));
  const m: Member = { t: undefined as never, url: `http://127.0.0.1:${port}`, received: [], unreachable: [], snapshots: [], statuses: [] };
  const handlers: TransportHandlers = {
    onMessages: (msgs) => m.received.push(...msgs),
    onSnapshot: async (s, file) => {
      m.snapshots.push({ msg: s, content: readFileSync(file, 'utf8') });
    },
    onUnreachable: (p) => m.unreachable.push(p),
    onSnapshotStatus: (p, ok) => m.statuses.push([p, ok]),
    snapshotFile: async () => {
      const f = join(dir, `out-${Date.now()}.snap`);
      writeFileSync(f, 'x'.repeat(3 * 1024 * 1024 + 17));
      return f;
    },
    leaseRenew: async (req) => ({ ID: req.ID, TTL: 42n }),
    leaseTimeToLive: async (req) => ({ ID: req.ID, TTL: -1n }),
    members: async () => ({ clusterId, members: [{ id, name: `m${id}`, peerUrls: [m.url] }] }),
    hashKV: async (req) => ({ hash: 0xfeed, compactRevision: req.revision }),
  };
  m.t = new PeerTransport({ memberId: id, clusterId, isSnapshot: (x) => x.type === SNAP, scratchDir: dir, log: silent, ...(tls ? { tls } : {}) }, handlers);
  await m.t.listen([`127.0.0.1:${port}`]);
  cleanups.push(async () => {
    await m.t.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return m;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('transport - peer streams', () => {
  it('delivers messages in order with their entries intact', async () => {
    const a = await member(1n);
    const b = await member(2n);
    a.t.setPeer(2n, [b.url]);
    a.t.send(Array.from({ length: 200 }, (_, i) => msg(2n, 1n, i)));
    await until(() => b.received.length === 200);
    expect(b.received.map((m) => m.index)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(Buffer.from(b.received[5]!.entries[0]!.data).toString()).toBe('e5');
    expect(b.received[0]!.from).toBe(1n);
  });

  it('reports an unknown or dead peer as unreachable and recovers when it comes back', async () => {
    const a = await member(1n);
    a.t.send([msg(9n, 1n, 1)]);
    expect(a.unreachable).toContain(9n);
    const port = await freePort();
    a.t.setPeer(3n, [`http://127.0.0.1:${port}`]);
    a.t.send([msg(3n, 1n, 1)]);
    await until(() => a.unreachable.includes(3n));
  });

  it('ignores streams from another cluster', async () => {
    const a = await member(1n, 1n);
    const b = await member(2n, 99n);
    a.t.setPeer(2n, [b.url]);
    a.t.send([msg(2n, 1n, 1)]);
    await until(() => a.unreachable.includes(2n));
    expect(b.received).toEqual([]);
  });

  it('streams snapshots in chunks on their own call and reports the outcome', async () => {
    const a = await member(1n);
    const b = await member(2n);
    a.t.setPeer(2n, [b.url]);
    a.t.send([msg(2n, 1n, 10, SNAP)]);
    await until(() => a.statuses.length === 1);
    expect(a.statuses).toEqual([[2n, true]]);
    expect(b.snapshots[0]!.content.length).toBe(3 * 1024 * 1024 + 17);
    expect(b.snapshots[0]!.msg.index).toBe(10);
  });

  it('speaks mutual TLS between peers with certificates from the trusted CA', async () => {
    const a = await member(1n, 1n, tlsAs('peer'));
    const b = await member(2n, 1n, tlsAs('peer'));
    a.t.setPeer(2n, [b.url.replace('http:', 'https:')]);
    a.t.send([msg(2n, 1n, 1)]);
    await until(() => b.received.length === 1);
  });

  it('refuses a peer whose certificate the CA did not sign', async () => {
    // a trusts the real CA (so it accepts b), but its own certificate is self-signed: b must refuse it.
    const a = await member(1n, 1n, tlsAs('rogue'));
    const b = await member(2n, 1n, tlsAs('peer'));
    a.t.setPeer(2n, [b.url.replace('http:', 'https:')]);
    a.t.send([msg(2n, 1n, 1)]);
    await until(() => a.unreachable.includes(2n));
    expect(b.received).toEqual([]);
  });

  it('with an allowed common name, accepts only peers whose certificate carries it (--peer-cert-allowed-cn)', async () => {
    const strict = await member(2n, 1n, { ...tlsAs('peer'), allowedCN: 'peer' });
    const good = await member(1n, 1n, tlsAs('peer'));
    good.t.setPeer(2n, [strict.url.replace('http:', 'https:')]);
    good.t.send([msg(2n, 1n, 1)]);
    await until(() => strict.received.length === 1);
    // Signed by the same CA, but its common name is "other".
    const other = await member(3n, 1n, tlsAs('other'));
    other.t.setPeer(2n, [strict.url.replace('http:', 'https:')]);
    other.t.send([msg(2n, 3n, 1)]);
    await until(() => other.unreachable.includes(2n));
    expect(strict.received.map((m) => m.from)).toEqual([1n]);
  });

  it('with an allowed host name, accepts only peers whose certificate is valid for it (--peer-cert-allowed-hostname)', async () => {
    const strict = await member(2n, 1n, { ...tlsAs('peer'), allowedHostname: 'other.example' });
    const other = await member(3n, 1n, tlsAs('other'));
    other.t.setPeer(2n, [strict.url.replace('http:', 'https:')]);
    other.t.send([msg(2n, 3n, 1)]);
    await until(() => strict.received.length === 1);
    const peer = await member(1n, 1n, tlsAs('peer')); // valid for localhost and 127.0.0.1, not other.example
    peer.t.setPeer(2n, [strict.url.replace('http:', 'https:')]);
    peer.t.send([msg(2n, 1n, 1)]);
    await until(() => peer.unreachable.includes(2n));
    expect(strict.received.map((m) => m.from)).toEqual([3n]);
  });

  it('tells a joining member the membership', async () => {
    const b = await member(2n, 42n);
    const r = await fetchMembers(b.url, undefined, 2000);
    expect([r.clusterId, r.members.map((x) => x.id)]).toEqual([42n, [2n]]);
  });

  it('forwards lease requests to a peer', async () => {
    const a = await member(1n);
    const b = await member(2n);
    a.t.setPeer(2n, [b.url]);
    const r = await a.t.forwardLeaseRenew(2n, { ID: 5n }, 2000);
    expect(r.TTL).toBe(42n);
  });
});
