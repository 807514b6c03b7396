/**
 * Register/CAS workload: actors read, write and compare-and-set integer registers; the history (timeouts as
 * indeterminate operations) is checked for linearizability with the WGL checker and `registerModel`, one key at a
 * time. Keys rotate after `opsPerKey` operations so each part of the search stays small.
 *
 * Unsafe control: reads are `serializable`, and each actor is pinned to one member (some to the one the nemesis
 * isolates first), so a minority member's stale reads are treated as linearizable — the checker must object.
 */
import { Client, Cmp, Op } from '@latchkey/client';
import { checkOperations, explainFailure, type Operation } from '../../checker/linearizability.js';
import { registerModel, type RegisterInput, type RegisterOutput } from '../register-model.js';
import { actorClient, type CheckerResult, notApplied, sleep, type Workload, type WorkloadContext } from './common.js';

export interface RegisterOptions {
  actors: number;
  opsPerKey: number;
}

export class RegisterWorkload implements Workload {
  readonly name = 'register';
  readonly history: Operation<RegisterInput, RegisterOutput>[] = [];
  private readonly clients: Client[];
  private readonly loops: Promise<void>[] = [];
  private keyIndex = 0;
  private opsOnKey = 0;
  private nextValue = 1;
  private issued = 0;
  private failed = 0;
  private readonly t0 = performance.now();

  constructor(
    private readonly ctx: WorkloadContext,
    private readonly options: RegisterOptions,
  ) {
    this.clients = Array.from({ length: options.actors }, (_, i) => {
      if (ctx.unsafe) {
        // Pinned: actor 0 (and every n-th) to the member that will be isolated.
        const eps = ctx.endpoints;
        const ep = i % eps.length === 0 && ctx.unsafeEndpoint ? ctx.unsafeEndpoint : eps[i % eps.length]!;
        return new Client({ endpoints: [ep], dialTimeoutMs: 1_000, defaultTimeoutMs: 5_000 });
      }
      return actorClient(ctx.endpoints, i);
    });
  }

  operations(): number {
    return this.issued;
  }

  start(): void {
    for (let i = 0; i < this.clients.length; i++) this.loops.push(this.loop(i));
  }

  async stop(): Promise<void> {
    await Promise.all(this.loops);
    for (const c of this.clients) c.close();
  }

  private key(): string {
    if (++this.opsOnKey > this.options.opsPerKey) {
      this.keyIndex++;
      this.opsOnKey = 1;
    }
    return `${this.ctx.prefix}reg/${this.keyIndex}`;
  }

  private async loop(actor: number): Promise<void> {
    const client = this.clients[actor]!;
    const lastSeen = new Map<string, number>();
    const { rng, signal, opTimeoutMs: timeoutMs } = this.ctx;
    while (!signal.aborted) {
      const key = this.key();
      const r = rng.next();
      const seen = lastSeen.get(key);
      const input: RegisterInput =
        r < 0.5 ? { f: 'read', key } : r < 0.75 || seen === undefined ? { f: 'write', key, value: this.nextValue++ } : { f: 'cas', key, from: seen, to: this.nextValue++ };
      const call = performance.now() - this.t0;
      this.issued++;
      try {
        let output: RegisterOutput;
        if (input.f === 'read') {
          const v = await client.getString(key, { timeoutMs, serializable: this.ctx.unsafe });
          output = { f: 'read', value: v === undefined ? null : Number(v) };
          if (output.value !== null) lastSeen.set(key, output.value);
        } else if (input.f === 'write') {
          await client.put(key, String(input.value), { timeoutMs });
          output = { f: 'write' };
          lastSeen.set(key, input.value);
        } else {
          const t = await client.txn().if(Cmp.value(key, '=', String(input.from))).success(Op.put(key, String(input.to))).commit({ timeoutMs });
          output = { f: 'cas', ok: t.succeeded };
          if (t.succeeded) lastSeen.set(key, input.to);
        }
        this.history.push({ clientId: actor, input, call, output, return: performance.now() - this.t0 });
      } catch (err) {
        if (signal.aborted && input.f === 'read') break;
        if (input.f === 'read' || notApplied(err)) this.failed++;
        else this.history.push({ clientId: actor, input, call, output: { f: 'unknown' }, return: Infinity });
        await sleep(50, signal);
      }
    }
  }

  async check(): Promise<CheckerResult> {
    const started = performance.now();
    const outcome = checkOperations(registerModel, this.history, { timeoutMs: 60_000, maxSteps: 5_000_000 });
    const violations: string[] = [];
    let explanation = '';
    for (const p of outcome.partitions) {
      if (p.result !== 'illegal') continue;
      const key = p.operations[0]?.input.key ?? '?';
      violations.push(`register ${key}: history is not linearizable (${p.operations.length} operations)`);
      explanation = explainFailure(registerModel, p);
    }
    const unknown = outcome.partitions.filter((p) => p.result === 'unknown').length;
    return {
      name: this.name,
      operations: this.history.length,
      violations,
      details: {
        keys: new Set(this.history.map((o) => o.input.key)).size,
        indeterminate: this.history.filter((o) => o.return === Infinity).length,
        failedNotApplied: this.failed,
        reads: this.history.filter((o) => o.input.f === 'read').length,
        casOk: this.history.filter((o) => o.output.f === 'cas' && o.output.ok).length,
        uncheckedKeys: unknown,
        checkMs: Math.round(performance.now() - started),
        ...(explanation ? { explanation } : {}),
      },
      history: violations.length ? outcome.partitions.filter((p) => p.result === 'illegal').map((p) => p.operations) : undefined,
    };
  }
}
