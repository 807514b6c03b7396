/**
 * A cluster of real member processes (etcd or latchkey) on loopback, formed with etcd's flags:
 *
 * ```ts
 * const c = await Cluster.start({ kind: 'latchkey', size: 3 });
 * c.endpoints;                  // '127.0.0.1:a,127.0.0.1:b,127.0.0.1:c' for etcdctl --endpoints
 * const l = await c.leader();   // the member that reports itself leader
 * await l.kill('SIGKILL');
 * const m4 = await c.add();     // `member add` through the cluster, then start it with --initial-cluster-state existing
 * await c.dispose();
 * ```
 */
import { etcdctl, type EtcdctlResult } from './etcdctl.js';
import { freePorts } from './ports.js';
import { Member, type MemberKind } from './processes.js';

export interface ClusterOptions {
  kind: MemberKind;
  size: number;
  /** Flags for every member (for example `['--snapshot-count', '50']`). */
  extraArgs?: readonly string[];
  env?: Record<string, string>;
  /**
   * Called once per member (also for `add()`) with its listening ports; returns the ports it should advertise to
   * peers and clients instead (for example those of a proxy in front of it). Default: the listening ports.
   */
  advertise?: (m: { name: string; clientPort: number; peerPort: number }) => Promise<{ clientPort: number; peerPort: number }>;
}

export interface EndpointStatus {
  endpoint: string;
  memberId: bigint;
  leader: bigint;
  raftTerm: bigint;
  raftIndex: bigint;
  revision: bigint;
}

export class Cluster {
  private constructor(
    readonly options: ClusterOptions,
    readonly members: Member[],
  ) {}

  static async start(options: ClusterOptions): Promise<Cluster> {
    const ports = await freePorts(2 * options.size);
    const names = Array.from({ length: options.size }, (_, i) => `m${i + 1}`);
    const advertised: { clientPort: number; peerPort: number }[] = [];
    for (const [i, name] of names.entries()) {
      const own = { clientPort: ports[2 * i]!, peerPort: ports[2 * i + 1]! };
      advertised.push(options.advertise ? await options.advertise({ name, ...own }) : own);
    }
    const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${advertised[i]!.peerPort}`).join(',');
    const members = names.map((name, i) =>
      Member.prepare({
        kind: options.kind,
        name,
        initialCluster,
        clientPort: ports[2 * i]!,
        peerPort: ports[2 * i + 1]!,
        advertiseClientPort: advertised[i]!.clientPort,
        advertisePeerPort: advertised[i]!.peerPort,
        ...(options.extraArgs ? { extraArgs: options.extraArgs } : {}),
        ...(options.env ? { env: options.env } : {}),
      }),
    );
    const c = new Cluster(options, members);
    try {
      for (const m of members) await m.launch(false);
      await Promise.all(members.map((m) => m.waitHealthy(30_000)));
    } catch (err) {
      await c.dispose({ keepFiles: true });
      throw err;
    }
    return c;
  }

  /** Client endpoints of the members that are running, comma-separated. */
  get endpoints(): string {
    return this.members
      .filter((m) => m.running)
      .map((m) => m.endpoint)
      .join(',');
  }

  /** `endpoint status -w json` of every running member (those that answer). */
  async status(): Promise<EndpointStatus[]> {
    const out: EndpointStatus[] = [];
    for (const m of this.members.filter((x) => x.running)) {
      const r = await etcdctl(m.endpoint, ['endpoint', 'status', '-w', 'json', '--command-timeout=1s'], { timeoutMs: 3000 });
      if (r.code !== 0) continue;
      const parsed = JSON.parse(r.stdout.replace(/:\s*(\d{16,})/g, ':"$1"')) as { Endpoint: string; Status: { header: { member_id: string; revision: string }; leader: string; raftTerm: string; raftIndex: string } }[];
      for (const s of parsed) {
        out.push({
          endpoint: s.Endpoint,
          memberId: BigInt(s.Status.header.member_id),
          leader: BigInt(s.Status.leader),
          raftTerm: BigInt(s.Status.raftTerm),
          raftIndex: BigInt(s.Status.raftIndex),
          revision: BigInt(s.Status.header.revision),
        });
      }
    }
    return out;
  }

  /** The running member that reports itself leader; waits up to `timeoutMs` for one. */
  async leader(timeoutMs = 10_000): Promise<Member> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await this.status();
      const l = st.find((s) => s.leader === s.memberId && s.leader !== 0n);
      if (l) return this.members.find((m) => m.endpoint === l.endpoint)!;
      if (Date.now() > deadline) throw new Error('no leader');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Adds a member: `member add` through a running member (as a learner if asked), then starts it with
   * `--initial-cluster-state existing`.
   */
  async add(options: { learner?: boolean } = {}): Promise<Member> {
    const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    const name = `m${this.members.length + 1}`;
    const adv = this.options.advertise ? await this.options.advertise({ name, clientPort, peerPort }) : { clientPort, peerPort };
    const peerUrl = `http://127.0.0.1:${adv.peerPort}`;
    const r = await whileUnhealthy(() => etcdctl(this.endpoints, ['member', 'add', name, `--peer-urls=${peerUrl}`, ...(options.learner ? ['--learner'] : [])]));
    if (r.code !== 0) throw new Error(`member add failed: ${r.stderr}`);
    const initial = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(r.stdout)?.[1];
    if (!initial) throw new Error(`member add printed no ETCD_INITIAL_CLUSTER: ${r.stdout}`);
    const m = Member.prepare({
      kind: this.options.kind,
      name,
      initialCluster: initial,
      initialClusterState: 'existing',
      clientPort,
      peerPort,
      advertiseClientPort: adv.clientPort,
      advertisePeerPort: adv.peerPort,
      ...(this.options.extraArgs ? { extraArgs: this.options.extraArgs } : {}),
    });
    this.members.push(m);
    await m.launch(!options.learner);
    return m;
  }

  async dispose(options: { keepFiles?: boolean } = {}): Promise<void> {
    await Promise.allSettled(this.members.map((m) => m.dispose(options)));
  }
}

/** Repeats an etcdctl command until `done` holds for its result or `timeoutMs` passes; returns the last result. */
export async function repeatUntil(run: () => Promise<EtcdctlResult>, done: (r: EtcdctlResult) => boolean, timeoutMs = 30_000): Promise<EtcdctlResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run();
    if (done(r) || Date.now() > deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Repeats an etcdctl membership command while the cluster refuses it as "unhealthy cluster": under
 * --strict-reconfig-check (the default, in etcd as here) a change waits until every voter has been connected
 * for 5 s, which is not yet the case just after a start, a restart or a partition. Gives up after `timeoutMs`
 * and returns the last result.
 */
export function whileUnhealthy(run: () => Promise<EtcdctlResult>, timeoutMs = 30_000): Promise<EtcdctlResult> {
  return repeatUntil(run, (r) => r.code === 0 || !r.stderr.includes('etcdserver: unhealthy cluster'), timeoutMs);
}
