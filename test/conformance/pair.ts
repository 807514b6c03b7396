/**
 * A conformance pair: one fresh real etcd and one fresh latchkey, driven by the same etcdctl commands in the same
 * order (so their revisions line up), with each command's exit code, stdout and cleaned stderr compared after
 * masking what legitimately differs (ids, raft term/index, version string, DB size, durations, ports, paths,
 * granted lease ids, remaining lease TTLs, and the order of a lease's attached keys).
 *
 * ```ts
 * const members = useMembers();
 * test('kv - get forms', async () => {
 *   const pair = await ConformancePair.start(members);
 *   await pair.run(['put', 'foo', 'bar']);                       // asserts: same output; etcd exits 0
 *   await pair.run(['get', 'foo', '--rev=99'], { code: 1 });     // asserts: same output; etcd exits 1
 *   await pair.run(['lease', 'grant', '60']);                     // the pair learns each server's lease id…
 *   await pair.run((side) => ['put', 'k', 'v', `--lease=${pair.lease(side, 0)}`]);   // …for per-server args
 * });
 * ```
 *
 * A difference does not stop the script (it is recorded with `expect.soft`), so one run shows every mismatch,
 * each as `etcdctl <args>` with the etcd output as Expected and the latchkey output as Received.
 * Set `CONFORMANCE_VERBOSE=1` to print every command with its masked output (both outputs when they differ).
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import {
  cleanStderr,
  etcdctl,
  type EtcdctlOptions,
  type EtcdctlResult,
  identify,
  maskRemainingTtl,
  maskServerOutput,
  type ServerIdentity,
  sortUnorderedLists,
} from '../harness/etcdctl.js';
import type { Member } from '../harness/processes.js';
import type { MemberSet } from '../harness/vitest.js';

export type Side = 'etcd' | 'latchkey';

export interface StepOptions extends Pick<EtcdctlOptions, 'stdin' | 'stdinFile'> {
  /** Exit code etcd must give (default 0): guards the script itself, so both servers failing alike is noticed. */
  code?: number;
  /** Show stdout as `<n bytes, sha256 …>` (for outputs holding large values). */
  digest?: boolean;
  /** More lease ids to mask in this step's output (each server's own); granted ones are masked already. */
  leaseIds?: { etcd: readonly bigint[]; latchkey: readonly bigint[] };
  /** A note shown with the command in failure messages (for example what the step is about). */
  note?: string;
}

/** One command's masked outcome on one server. */
export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

export interface StepResult {
  /** Masked outcomes, as compared. */
  etcd: Outcome;
  latchkey: Outcome;
  /** Unmasked results, for tests that need values from the output. */
  raw: { etcd: EtcdctlResult; latchkey: EtcdctlResult };
}

export class ConformancePair {
  private constructor(
    readonly etcd: Member,
    readonly latchkey: Member,
    readonly etcdId: ServerIdentity,
    readonly latchkeyId: ServerIdentity,
  ) {}

  /** Starts both servers (in parallel) with identical flags and learns their ids for masking. */
  static async start(members: MemberSet, extraArgs?: readonly string[]): Promise<ConformancePair> {
    const [etcd, latchkey] = await Promise.all([
      members.start({ kind: 'etcd', extraArgs }),
      members.start({ kind: 'latchkey', extraArgs }),
    ]);
    const literals = (m: Member): ServerIdentity['literals'] => [
      [m.dir, '<tmp-dir>'],
      [m.peerUrl, '<peer-url>'],
    ];
    const [etcdId, latchkeyId] = await Promise.all([identify(etcd.endpoint, literals(etcd)), identify(latchkey.endpoint, literals(latchkey))]);
    return new ConformancePair(etcd, latchkey, etcdId, latchkeyId);
  }

  /**
   * Runs `etcdctl <args>` against both servers (concurrently; each server sees the pair's commands in order) and
   * soft-asserts that the masked outcomes are equal and that etcd's exit code is `options.code` (default 0).
   */
  async run(args: readonly string[] | ((side: Side) => readonly string[]), options: StepOptions = {}): Promise<StepResult> {
    const etcdctlOptions: EtcdctlOptions = { stdin: options.stdin, stdinFile: options.stdinFile };
    const argsFor = (side: Side): readonly string[] => (typeof args === 'function' ? args(side) : args);
    const [rawEtcd, rawLatchkey] = await Promise.all([
      etcdctl(this.etcd.endpoint, argsFor('etcd'), etcdctlOptions),
      etcdctl(this.latchkey.endpoint, argsFor('latchkey'), etcdctlOptions),
    ]);
    this.learnLeases(rawEtcd.stdout, this.leases.etcd);
    this.learnLeases(rawLatchkey.stdout, this.leases.latchkey);
    const etcd = this.mask(rawEtcd, this.etcdId, [...this.leases.etcd, ...(options.leaseIds?.etcd ?? [])], options.digest);
    const latchkey = this.mask(rawLatchkey, this.latchkeyId, [...this.leases.latchkey, ...(options.leaseIds?.latchkey ?? [])], options.digest);
    // The command as etcd got it; a per-side argument (a lease id) is shown with etcd's value.
    const title = describeCommand(argsFor('etcd'), options);
    if (process.env['CONFORMANCE_VERBOSE']) {
      const show = (o: Outcome): string => `exit ${o.code}\n${o.stdout}${o.stderr === '' ? '' : `[stderr]\n${o.stderr}`}`;
      const same = JSON.stringify(etcd) === JSON.stringify(latchkey);
      console.log(`${title}\n${same ? show(etcd) : `--- etcd\n${show(etcd)}\n--- latchkey\n${show(latchkey)}`}\n`);
    }
    expect.soft(etcd.code, `${title}\n  etcd exit code (checks the script itself); etcd stdout: ${etcd.stdout} stderr: ${etcd.stderr}`).toBe(options.code ?? 0);
    expect.soft(latchkey, `${title}\n  (Expected = etcd, Received = latchkey)`).toEqual(etcd);
    return { etcd, latchkey, raw: { etcd: rawEtcd, latchkey: rawLatchkey } };
  }

  /**
   * Lease ids each server granted (learned from `lease grant` output), as hex strings for per-side arguments
   * (`p.run((side) => ['put', 'k', 'v', `--lease=${p.lease(side, 0)}`])`); they are masked by value in all output.
   */
  readonly leases: Record<Side, bigint[]> = { etcd: [], latchkey: [] };

  /** The `i`-th lease id granted on `side`, in the `%016x` form etcdctl prints and parses. */
  lease(side: Side, i: number): string {
    const id = this.leases[side][i];
    if (id === undefined) throw new Error(`no lease #${i} was granted on ${side}`);
    return id.toString(16).padStart(16, '0');
  }

  /** Picks up lease ids from `lease grant` output: `lease <hex> granted with TTL(…)`, or `"ID":<decimal>,"TTL":…` in JSON. */
  private learnLeases(stdout: string, into: bigint[]): void {
    const found = [
      ...[...stdout.matchAll(/^lease ([0-9a-f]{16}) granted with TTL/gm)].map((m) => BigInt(`0x${m[1]!}`)),
      ...[...stdout.matchAll(/"ID":(\d+),"TTL":\d+,"Error":/g)].map((m) => BigInt(m[1]!)),
    ];
    for (const id of found) if (!into.includes(id)) into.push(id);
  }

  private mask(r: EtcdctlResult, id: ServerIdentity, leaseIds: readonly bigint[], digest: boolean | undefined): Outcome {
    const m = (s: string): string => sortUnorderedLists(maskRemainingTtl(maskServerOutput(s, id, { leaseIds, endpointStatusLines: true })));
    const stdout = digest ? digestOf(r.stdout) : m(r.stdout);
    return { code: r.code, stdout, stderr: m(cleanStderr(r.stderr, { keepErrors: true })) };
  }
}

function digestOf(s: string): string {
  return `<${Buffer.byteLength(s)} bytes, sha256 ${createHash('sha256').update(s).digest('hex').slice(0, 16)}>`;
}

function describeCommand(args: readonly string[], options: StepOptions): string {
  const quoted = args.map((a) => (a === '' || /[\s"'\\]/.test(a) ? JSON.stringify(a) : a)).join(' ');
  let s = `$ etcdctl ${quoted}`;
  if (options.stdinFile !== undefined) s += ` < ${options.stdinFile}`;
  if (options.stdin !== undefined) {
    const text = typeof options.stdin === 'string' ? options.stdin : Buffer.from(options.stdin).toString('utf8');
    const shown = text.length > 400 ? `${text.slice(0, 400)}… (${text.length} chars)` : text;
    s += ` <<'EOF'\n${shown}\nEOF`;
  }
  if (options.note !== undefined) s = `[${options.note}]\n${s}`;
  return s;
}
