/**
 * Election workload: candidates (each on its own client and session) campaign, lead for a while and resign;
 * observers follow the election with `observe()`.
 *
 * Checker:
 *  - one leader per term: no two candidates win the same term (the leader key's create revision; one candidate
 *    may win its own term again when its resign failed and its key stayed), and every leader an observer reports
 *    for a term is the candidate that won it;
 *  - terms only move forward: each observer's terms never decrease;
 *  - exclusive leadership: when a campaign wins, no other candidate still believes it leads (its `signal` has
 *    not aborted and it has not started to resign) — the session's conservative expiry makes this hold even when
 *    a leader's lease runs out behind a partition. Checked in-process, by event order, not by clocks;
 *  - a leader exists after the final heal (a linearizable read of the election finds one).
 *
 * Unsafe control: candidates declare themselves leader as soon as their key is written, without waiting for
 * their turn — exclusivity must fail.
 */
import { setMaxListeners } from 'node:events';
import { type Client, type Leadership, leaseHex } from '@latchkey/client';
import { actorClient, type CheckerResult, eventually, sleep, type Workload, type WorkloadContext } from './common.js';

interface Term {
  candidate: number;
  term: string;
  value: string;
  wonAt: number;
  endedAt?: number;
  end?: string;
}

interface Observation {
  observer: number;
  t: number;
  term: string | null;
  value: string | null;
}

interface Held {
  term: bigint;
  signal: AbortSignal;
  resign(): Promise<void>;
}

export class ElectionWorkload implements Workload {
  readonly name = 'election';
  readonly terms: Term[] = [];
  readonly observations: Observation[] = [];
  private readonly violations: string[] = [];
  private readonly candidates: Client[];
  private readonly observers: Client[];
  private readonly leading = new Map<number, Term>();
  private readonly loops: Promise<void>[] = [];
  private readonly stopObservers = new AbortController();
  private campaigns = 0;
  private readonly t0 = performance.now();

  constructor(
    private readonly ctx: WorkloadContext,
    candidates: number,
    observers: number,
    private readonly ttl: number,
  ) {
    this.candidates = Array.from({ length: candidates }, (_, i) => actorClient(ctx.endpoints, i));
    this.observers = Array.from({ length: observers }, (_, i) => actorClient(ctx.endpoints, i + 1));
    // observe() leaves one listener per watch it opens on this signal (until it aborts): not a leak we care about.
    setMaxListeners(0, this.stopObservers.signal);
  }

  private get electionName(): string {
    return `${this.ctx.prefix}election`;
  }

  operations(): number {
    return this.campaigns + this.observations.length;
  }

  start(): void {
    for (let i = 0; i < this.candidates.length; i++) this.loops.push(this.candidateLoop(i));
    for (let i = 0; i < this.observers.length; i++) this.loops.push(this.observerLoop(i));
  }

  private now(): number {
    return Math.round(performance.now() - this.t0);
  }

  private async campaign(i: number, value: string): Promise<Held> {
    const client = this.candidates[i]!;
    if (!this.ctx.unsafe) {
      const l: Leadership = await client.election(this.electionName).campaign(value, { ttl: this.ttl, timeoutMs: 15_000, signal: this.ctx.signal });
      return { term: l.term, signal: l.signal, resign: () => l.resign({ timeoutMs: 5_000 }) };
    }
    const session = await client.lock.defaultSession(this.ttl, { timeoutMs: 5_000 });
    const key = `${this.electionName}/${leaseHex(session.leaseId)}`;
    const r = await client.put(key, value, { lease: session.leaseId, timeoutMs: 5_000 });
    return { term: r.header.revision, signal: session.signal, resign: async () => void (await client.delete(key, { timeoutMs: 5_000 })) };
  }

  private async candidateLoop(i: number): Promise<void> {
    const { signal, rng } = this.ctx;
    for (let gen = 1; !signal.aborted; gen++) {
      const value = `c${i}-${gen}`;
      this.campaigns++;
      let held: Held;
      try {
        held = await this.campaign(i, value);
      } catch {
        await sleep(200, signal);
        continue;
      }
      const term: Term = { candidate: i, term: held.term.toString(), value, wonAt: this.now() };
      // Exclusivity, in event order: nobody else may still believe it leads.
      for (const [j, other] of this.leading) {
        if (j !== i) this.violations.push(`candidate ${i} won term ${term.term} at ${term.wonAt} ms while candidate ${j} still led term ${other.term} (since ${other.wonAt} ms)`);
      }
      // A candidate whose resign failed keeps its key and wins the same term again: only another candidate is wrong.
      for (const t of this.terms) if (t.term === term.term && t.candidate !== i) this.violations.push(`term ${term.term} won by ${t.value} and by ${value}`);
      this.terms.push(term);
      this.leading.set(i, term);
      const ended = (reason: string): void => {
        if (this.leading.get(i) !== term) return;
        this.leading.delete(i);
        term.endedAt = this.now();
        term.end = reason;
      };
      const onAbort = (): void => ended('lost');
      if (held.signal.aborted) ended('lost');
      else held.signal.addEventListener('abort', onAbort, { once: true });
      await sleep(rng.between(200, 1_500), AbortSignal.any([signal, held.signal]));
      held.signal.removeEventListener('abort', onAbort);
      ended(held.signal.aborted ? 'lost' : 'resigned');
      await held.resign().catch(() => undefined);
      await sleep(rng.between(0, 300), signal);
    }
  }

  private async observerLoop(o: number): Promise<void> {
    const e = this.observers[o]!.election(this.electionName);
    const signal = this.stopObservers.signal;
    while (!signal.aborted) {
      try {
        for await (const ob of e.observe({ signal })) {
          this.observations.push({ observer: o, t: this.now(), term: ob.none ? null : ob.term.toString(), value: ob.none ? null : ob.value });
        }
      } catch {
        await sleep(200, signal);
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.loops.slice(0, this.candidates.length));
  }

  /** Call while candidates still campaign, after the final heal: a leader must be found. */
  async leaderAfterHeal(): Promise<string | undefined> {
    try {
      const l = await eventually(() => this.observers[0]!.election(this.electionName).leader({ timeoutMs: 3_000 }), 20_000);
      return `${l.value}@${l.term}`;
    } catch {
      return undefined;
    }
  }

  leaderSeen: string | undefined | null = null;

  async check(): Promise<CheckerResult> {
    this.stopObservers.abort();
    await Promise.all(this.loops);
    for (const c of [...this.candidates, ...this.observers]) c.close();
    const violations = [...this.violations];
    const won = new Map(this.terms.map((t) => [t.term, t.candidate]));
    const candidateOf = (value: string): number => Number(/^c(\d+)-/.exec(value)?.[1] ?? -1);
    const last = new Map<number, bigint>();
    for (const ob of this.observations) {
      if (ob.term === null) continue;
      const prev = last.get(ob.observer) ?? 0n;
      if (BigInt(ob.term) < prev) violations.push(`observer ${ob.observer} at ${ob.t} ms saw term ${ob.term} after term ${prev}`);
      last.set(ob.observer, BigInt(ob.term) > prev ? BigInt(ob.term) : prev);
      const w = won.get(ob.term);
      if (w !== undefined && w !== candidateOf(ob.value!)) violations.push(`observer ${ob.observer} saw ${ob.value} lead term ${ob.term}, won by candidate ${w}`);
    }
    if (this.leaderSeen === undefined) violations.push('no leader within 20 s after the final heal');
    return {
      name: this.name,
      operations: this.campaigns + this.observations.length,
      violations: violations.slice(0, 50),
      details: {
        campaigns: this.campaigns,
        termsWon: this.terms.length,
        lostLeaderships: this.terms.filter((t) => t.end === 'lost').length,
        observations: this.observations.length,
        leaderAfterHeal: this.leaderSeen ?? 'not checked',
      },
      history: violations.length ? { terms: this.terms, observations: this.observations } : undefined,
    };
  }
}
