/**
 * Set workload: actors add unique elements (one key each under `<prefix>set/`); after the final heal one
 * linearizable range read must contain every acknowledged add, nothing that was never attempted, and nothing the
 * client reported as certainly not applied. Indeterminate adds may go either way (counted).
 *
 * Unsafe control: an add counts as acknowledged when it has been sent, before the server answers (like a server
 * that acknowledges before its write is durable), and its deadline is a few milliseconds, so many are cancelled
 * before they apply (others are lost to the partition) — they must show up as missing.
 */
import { type Client, toText } from '@latchkey/client';
import { actorClient, type CheckerResult, eventually, notApplied, sleep, type Workload, type WorkloadContext } from './common.js';

type Outcome = 'ok' | 'unknown' | 'failed' | 'pending';

export class SetWorkload implements Workload {
  readonly name = 'set';
  private readonly adds = new Map<number, Outcome>();
  private readonly clients: Client[];
  private readonly loops: Promise<void>[] = [];
  private readonly inflight = new Set<Promise<unknown>>();
  private next = 1;

  constructor(
    private readonly ctx: WorkloadContext,
    actors: number,
  ) {
    this.clients = Array.from({ length: actors }, (_, i) =>
      ctx.unsafe && ctx.unsafeEndpoint && i === 0 ? actorClient([ctx.unsafeEndpoint], 0) : actorClient(ctx.endpoints, i + 1),
    );
  }

  operations(): number {
    return this.adds.size;
  }

  start(): void {
    for (const c of this.clients) this.loops.push(this.loop(c));
  }

  async stop(): Promise<void> {
    await Promise.all(this.loops);
    await Promise.allSettled([...this.inflight]);
    for (const c of this.clients) c.close();
  }

  private async loop(client: Client): Promise<void> {
    const { signal, opTimeoutMs } = this.ctx;
    while (!signal.aborted) {
      const n = this.next++;
      this.adds.set(n, 'pending');
      // Unsafe: acknowledged on send, with a deadline so short the request is often cancelled before it applies.
      const timeoutMs = this.ctx.unsafe ? this.ctx.rng.between(1, 20) : opTimeoutMs;
      const p = client.put(`${this.ctx.prefix}set/${n}`, String(n), { timeoutMs }).then(
        () => this.adds.set(n, 'ok'),
        (err: unknown) => this.adds.set(n, this.ctx.unsafe ? 'ok' : notApplied(err) ? 'failed' : 'unknown'),
      );
      if (this.ctx.unsafe) {
        // Acknowledged on send; the answer is not waited for.
        this.adds.set(n, 'ok');
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
        await sleep(20, signal);
        continue;
      }
      await p;
      if (this.adds.get(n) !== 'ok') await sleep(50, signal);
    }
  }

  async check(final: Client): Promise<CheckerResult> {
    const r = await eventually(() => final.range(`${this.ctx.prefix}set/`, { prefix: true, keysOnly: true, timeoutMs: 5_000 }));
    const present = new Set(r.kvs.map((kv) => Number(toText(kv.key).slice(`${this.ctx.prefix}set/`.length))));
    const violations: string[] = [];
    const missing: number[] = [];
    const failedPresent: number[] = [];
    let ok = 0;
    let unknown = 0;
    let unknownPresent = 0;
    for (const [n, o] of this.adds) {
      if (o === 'ok') {
        ok++;
        if (!present.has(n)) missing.push(n);
      } else if (o === 'unknown' || o === 'pending') {
        unknown++;
        if (present.has(n)) unknownPresent++;
      } else if (present.has(n)) failedPresent.push(n);
    }
    if (missing.length) violations.push(`${missing.length} acknowledged adds are missing from the final read: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}`);
    if (failedPresent.length) violations.push(`${failedPresent.length} adds reported as not applied are present: ${failedPresent.slice(0, 20).join(', ')}`);
    const never = [...present].filter((n) => !this.adds.has(n));
    if (never.length) violations.push(`${never.length} elements present that were never added: ${never.slice(0, 20).join(', ')}`);
    return {
      name: this.name,
      operations: this.adds.size,
      violations,
      details: { acknowledged: ok, indeterminate: unknown, indeterminatePresent: unknownPresent, finalSize: present.size },
      history: violations.length ? { adds: [...this.adds], present: [...present].sort((a, b) => a - b) } : undefined,
    };
  }
}
