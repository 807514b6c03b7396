/**
 * The chaos network: fault proxies in front of every member's peer port and client port, and the partitions built
 * from them.
 *
 *   client ──► slot proxy s (client port of the member in slot s) ──► member
 *   member A ──► peer proxy of B (source identified as A through /proc) ──► B's peer port
 *
 * Clients are given the slot proxies, which stay put when the member behind a slot is replaced (a membership
 * change retargets the slot), so long-lived clients keep working endpoints. Members advertise their peer proxy
 * (`--initial-advertise-peer-urls`, `--initial-cluster`) and listen on the real port.
 *
 * `link(a, b, fault)` acts on what A sends to B (see proxy.ts for what "direction" means on TCP).
 */
import { FaultProxy, type LinkFault, procSourceResolver, type ProxyStats } from './proxy.js';

export type FaultKind = 'cut' | 'drop';

export class ChaosNetwork {
  /** Client-facing proxies, one per slot; `endpoints` are what clients connect to. */
  readonly slots: FaultProxy[] = [];
  /** Peer proxies by member name. */
  private readonly peers = new Map<string, FaultProxy>();
  /** The slot a member's clients use, by member name. */
  private readonly slotOf = new Map<string, number>();
  /** The slot the next `advertise` call fills (set by a membership change before `Cluster.add`). */
  nextSlot: number | undefined;
  private readonly identify;
  private readonly retiredStats: ProxyStats[] = [];

  constructor(pids: () => ReadonlyMap<number, string>) {
    this.identify = procSourceResolver(pids);
  }

  /** For `ClusterOptions.advertise`: starts the member's proxies and returns the ports to advertise. */
  readonly advertise = async (m: { name: string; clientPort: number; peerPort: number }): Promise<{ clientPort: number; peerPort: number }> => {
    const peer = await FaultProxy.start({ name: m.name, target: m.peerPort, identify: this.identify });
    this.peers.set(m.name, peer);
    let slot = this.nextSlot;
    this.nextSlot = undefined;
    if (slot === undefined) {
      slot = this.slots.length;
      this.slots.push(await FaultProxy.start({ name: `slot${slot}`, target: m.clientPort }));
    } else {
      this.slots[slot]!.retarget(m.clientPort);
    }
    this.slotOf.set(m.name, slot);
    return { clientPort: this.slots[slot]!.port, peerPort: peer.port };
  };

  /** Client endpoints (one per slot). */
  get endpoints(): string[] {
    return this.slots.map((s) => s.endpoint);
  }

  slotFor(name: string): number {
    return this.slotOf.get(name)!;
  }

  /** Sets (or clears) the fault on everything `from` sends to `to`. */
  link(from: string, to: string, fault: LinkFault | undefined): void {
    this.peers.get(to)?.setFault(from, fault);
  }

  /** `name` can neither send to nor receive from the other members. */
  isolate(name: string, others: readonly string[], kind: FaultKind): void {
    for (const o of others) {
      this.link(name, o, { kind });
      this.link(o, name, { kind });
    }
  }

  /** Splits the members into two sides that cannot talk to each other. */
  split(a: readonly string[], b: readonly string[], kind: FaultKind): void {
    for (const x of a) for (const y of b) {
      this.link(x, y, { kind });
      this.link(y, x, { kind });
    }
  }

  /** Asymmetric: `name`'s messages to the others are lost, theirs to it arrive (or the reverse with `inbound`). */
  oneWay(name: string, others: readonly string[], kind: FaultKind, inbound = false): void {
    for (const o of others) {
      if (inbound) this.link(o, name, { kind });
      else this.link(name, o, { kind });
    }
  }

  /**
   * Majorities ring (Jepsen's): every member still reaches a majority counting itself, but no two members see the
   * same majority. Members in the given order on a ring; with 3 or 4 members a one-way ring (each sends only to its
   * next ⌊n/2⌋ successors), from 5 on each talks both ways to its ⌈⌊n/2⌋/2⌉ nearest neighbours on each side.
   */
  ring(order: readonly string[], kind: FaultKind): void {
    const n = order.length;
    const need = Math.floor(n / 2); // others a member must reach for a majority
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        const ahead = (j - i + n) % n; // 1..n-1
        let allowed: boolean;
        if (n <= 4) allowed = ahead <= need;
        else {
          const r = Math.ceil(need / 2);
          allowed = ahead <= r || n - ahead <= r;
        }
        if (!allowed) this.link(order[i]!, order[j]!, { kind });
      }
    }
  }

  /** Adds latency to everything `name` sends to the others and they send to it. */
  delay(name: string, others: readonly string[], ms: number): void {
    for (const o of others) {
      this.link(name, o, { kind: 'delay', ms });
      this.link(o, name, { kind: 'delay', ms });
    }
  }

  /** Clients cannot reach the member in `name`'s slot. */
  cutClients(name: string, kind: FaultKind): void {
    this.slots[this.slotFor(name)]?.setFault('*', { kind });
  }

  /** The fault on what `from` sends to `to`, if any. */
  linkFault(from: string, to: string): LinkFault | undefined {
    return this.peers.get(to)?.faultFor(from);
  }

  /** Totals over the peer proxies (evidence that faults hit real connections). */
  peerStats(): { connections: number; unidentified: number; reset: number; droppedBytes: number } {
    const out = { connections: 0, unidentified: 0, reset: 0, droppedBytes: 0 };
    for (const p of [...this.peers.values(), ...this.retiredStats]) {
      const st = 'stats' in p ? p.stats : p;
      out.connections += st.accepted;
      out.unidentified += st.unidentified;
      out.reset += st.reset;
      out.droppedBytes += st.droppedBytes;
    }
    return out;
  }

  /**
   * Resets every peer connection and zeroes the peer statistics. Call once the member processes are known: the
   * connections made while the cluster formed could not be attributed to a member, and would ignore faults.
   */
  resetPeerConnections(): void {
    for (const p of this.peers.values()) {
      p.resetConnections();
      Object.assign(p.stats, { accepted: 0, unidentified: 0, reset: 0, droppedBytes: 0, forwardedBytes: 0 });
    }
  }

  /** Clears every fault on every proxy. */
  heal(): void {
    for (const p of this.peers.values()) p.heal();
    for (const s of this.slots) s.heal();
  }

  /** Forgets a removed member's peer proxy. */
  async retire(name: string): Promise<void> {
    const p = this.peers.get(name);
    this.peers.delete(name);
    if (p) this.retiredStats.push({ ...p.stats });
    await p?.close();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.peers.values(), ...this.slots].map((p) => p.close()));
  }
}
