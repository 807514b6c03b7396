/**
 * Reads a stage trace (members started with LATCHKEY_STAGE_TRACE=FILE, see packages/server/src/node/stage-trace.ts)
 * and prints where the time went:
 *
 * - **writes**: for every unary write answered by the leader (a `req:` line followed by a proposal there), the
 *   offset of each later stage of its Raft entry on every member from the moment the request was decoded —
 *   the leader's append leaving, each follower receiving, persisting and acknowledging it, the commit, the
 *   leader's answer, each follower learning the commit and applying. Meant for one client doing one write at a
 *   time (with concurrent writes the request-to-entry pairing is by order and only approximate).
 * - **reads**: per member, how long ReadIndex rounds took and how long linearizable reads waited in total
 *   (split by whether they found a round already in flight and had to wait for the next one).
 * - **durations**: fsync (`save`→`saved`) and apply (`apply`→`applied`) per member.
 * - **lock chain**: for etcd's Go Mutex (loadgen -op lock): release (DeleteRange decoded) → the waiter's watch
 *   event → the waiter's Range → its answer → the waiter's own release. Each is the median over cycles.
 *
 *   node test/dist/bench/stages.js FILE
 *
 * Members are named L (the member that sent appends: the leader) and F1, F2, … (the others, by process id).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface StageLine {
  pid: number;
  stage: string;
  index: number;
  /** Monotonic clock, nanoseconds. */
  ns: bigint;
}

export interface Row {
  name: string;
  n: number;
  /** Milliseconds. */
  p50: number;
  p90: number;
}

/** Parses trace lines (malformed lines are skipped) and sorts them by time. */
export function parseTrace(text: string): StageLine[] {
  const out: StageLine[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length !== 4 || !/^\d+$/.test(f[0]!) || !/^-?\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ pid: Number(f[0]), stage: f[1]!, index: Number(f[2]), ns: BigInt(f[3]!) });
  }
  return out.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
}

/**
 * Member names: L for the process that sent most appends with entries (only a leader sends them; every member
 * records `propose`, as followers forward proposals), F1, F2, … for the others in pid order.
 */
export function memberNames(lines: readonly StageLine[]): Map<number, string> {
  const appends = new Map<number, number>();
  const pids = new Set<number>();
  for (const l of lines) {
    pids.add(l.pid);
    if (l.stage === 'send-app') appends.set(l.pid, (appends.get(l.pid) ?? 0) + 1);
  }
  let leader = -1;
  let most = 0;
  for (const [pid, n] of appends) if (n > most) [leader, most] = [pid, n];
  const names = new Map<number, string>();
  if (leader >= 0) names.set(leader, 'L');
  let i = 0;
  for (const pid of [...pids].sort((a, b) => a - b)) if (pid !== leader) names.set(pid, `F${++i}`);
  return names;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

function rows(samples: Map<string, number[]>): Row[] {
  const out: Row[] = [];
  for (const [name, v] of samples) {
    const s = [...v].sort((a, b) => a - b);
    out.push({ name, n: s.length, p50: quantile(s, 0.5), p90: quantile(s, 0.9) });
  }
  return out.sort((a, b) => a.p50 - b.p50);
}

function add(m: Map<string, number[]>, k: string, v: number): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

const ms = (from: bigint, to: bigint): number => Number(to - from) / 1e6;

/**
 * The write timeline: per leader-answered write, the offset (ms) of each stage of its entry, on each member, from
 * the request being decoded. A request is paired with the first `send-app` the leader records after its proposal.
 */
export function writeTimeline(lines: readonly StageLine[]): Row[] {
  const names = memberNames(lines);
  const leader = [...names].find(([, n]) => n === 'L')?.[0];
  if (leader === undefined) return [];
  // Every stage line that names an entry, by index: the first time each member reached each stage for it.
  const byIndex = new Map<number, Map<string, bigint>>();
  for (const l of lines) {
    if (l.index < 0) continue;
    let m = byIndex.get(l.index);
    if (!m) byIndex.set(l.index, (m = new Map()));
    const k = `${names.get(l.pid)}:${l.stage}`;
    if (!m.has(k)) m.set(k, l.ns);
  }
  // Commit-only appends and acknowledgements carry the newest index they cover, not necessarily this entry's:
  // for those, the first line at or after the entry counts.
  const covering = ['recv-commit', 'send-commit', 'recv-ack', 'send-ack', 'apply', 'applied'];
  const series = new Map<string, StageLine[]>();
  for (const l of lines) {
    if (!covering.includes(l.stage)) continue;
    const k = `${names.get(l.pid)}:${l.stage}`;
    const a = series.get(k);
    if (a) a.push(l);
    else series.set(k, [l]);
  }
  const firstCovering = (who: string, stage: string, index: number, after: bigint): bigint | undefined => {
    const a = series.get(`${who}:${stage}`);
    if (!a) return undefined;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid]!.ns < after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < a.length; i++) if (a[i]!.index >= index) return a[i]!.ns;
    return undefined;
  };
  const samples = new Map<string, number[]>();
  let req: { at: bigint; name: string; proposed: boolean } | undefined;
  const done: { at: bigint; name: string; index: number; resp: bigint }[] = [];
  let pendingIndex: number | undefined;
  for (const l of lines) {
    if (l.pid !== leader) continue;
    if (l.stage.startsWith('req:')) {
      req = { at: l.ns, name: l.stage.slice(4), proposed: false };
      pendingIndex = undefined;
    } else if (l.stage === 'propose' && req) {
      req.proposed = true;
    } else if (l.stage === 'send-app' && req?.proposed && pendingIndex === undefined) {
      pendingIndex = l.index;
    } else if (l.stage.startsWith('resp:') && req && pendingIndex !== undefined) {
      done.push({ at: req.at, name: req.name, index: pendingIndex, resp: l.ns });
      req = undefined;
    }
  }
  for (const w of done) {
    add(samples, 'L:req (decoded)', 0);
    add(samples, 'L:resp (answered)', ms(w.at, w.resp));
    const seen = byIndex.get(w.index);
    if (!seen) continue;
    for (const [k, ns] of seen) {
      const [who, stage] = k.split(':') as [string, string];
      if (covering.includes(stage)) continue;
      add(samples, k, ms(w.at, ns));
    }
    for (const who of new Set(names.values())) {
      for (const stage of covering) {
        const ns = firstCovering(who, stage, w.index, w.at);
        if (ns !== undefined && ns - w.at < 1_000_000_000n) add(samples, `${who}:${stage}`, ms(w.at, ns));
      }
    }
  }
  return rows(samples);
}

/** Per member: `from`→`to` durations for the same entry index (e.g. save→saved is the fsync). */
export function durations(lines: readonly StageLine[], from: string, to: string): Row[] {
  const names = memberNames(lines);
  const open = new Map<string, bigint>();
  const samples = new Map<string, number[]>();
  for (const l of lines) {
    const who = names.get(l.pid)!;
    if (l.stage === from) open.set(`${who}:${l.index}`, l.ns);
    else if (l.stage === to) {
      const t = open.get(`${who}:${l.index}`);
      if (t !== undefined) {
        add(samples, `${who} ${from}→${to}`, ms(t, l.ns));
        open.delete(`${who}:${l.index}`);
      }
    }
  }
  return rows(samples);
}

/** Linearizable reads per member: round time (issue→state) and each read's wait (arrival→done, FIFO). */
export function readRounds(lines: readonly StageLine[]): Row[] {
  const names = memberNames(lines);
  const samples = new Map<string, number[]>();
  const issued = new Map<number, bigint>();
  const waiting = new Map<number, { kind: string; at: bigint }[]>();
  for (const l of lines) {
    const who = names.get(l.pid)!;
    if (l.stage === 'read-issue') issued.set(l.pid, l.ns);
    else if (l.stage === 'read-state') {
      const t = issued.get(l.pid);
      if (t !== undefined) add(samples, `${who} round (issue→read state)`, ms(t, l.ns));
      issued.delete(l.pid);
    } else if (l.stage === 'read-wait' || l.stage === 'read-wait-busy') {
      let q = waiting.get(l.pid);
      if (!q) waiting.set(l.pid, (q = []));
      q.push({ kind: l.stage === 'read-wait' ? 'found no round in flight' : 'found a round in flight', at: l.ns });
    } else if (l.stage === 'read-done') {
      const w = waiting.get(l.pid)?.shift();
      if (w) add(samples, `${who} read wait, ${w.kind}`, ms(w.at, l.ns));
    }
  }
  return rows(samples);
}

/** etcd's Go Mutex handoff chain, cycle by cycle (see the file comment). */
export function lockChain(lines: readonly StageLine[]): Row[] {
  const samples = new Map<string, number[]>();
  const releases: number[] = [];
  lines.forEach((l, i) => l.stage === 'req:DeleteRange' && releases.push(i));
  for (let k = 0; k + 1 < releases.length; k++) {
    const a = releases[k]!;
    const b = releases[k + 1]!;
    const t0 = lines[a]!.ns;
    let ev: StageLine | undefined;
    let rq: StageLine | undefined;
    let rs: StageLine | undefined;
    for (let i = a + 1; i < b; i++) {
      const l = lines[i]!;
      if (!ev) {
        if (l.stage === 'watch-events') ev = l;
      } else if (!rq) {
        if (l.stage === 'req:Range' && l.pid === ev.pid) rq = l;
      } else if (!rs && l.stage === 'resp:Range' && l.pid === ev.pid) rs = l;
    }
    if (!ev || !rq || !rs) continue;
    const t4 = lines[b]!.ns;
    add(samples, '1 release → waiter’s watch event', ms(t0, ev.ns));
    add(samples, '2 watch event → waiter’s Range', ms(ev.ns, rq.ns));
    add(samples, '3 Range (linearizable) on the server', ms(rq.ns, rs.ns));
    add(samples, '4 Range answered → next release', ms(rs.ns, t4));
    add(samples, '5 whole cycle', ms(t0, t4));
  }
  return rows(samples).sort((x, y) => x.name.localeCompare(y.name));
}

export function formatRows(title: string, rs: readonly Row[]): string {
  if (rs.length === 0) return '';
  const w = Math.max(...rs.map((r) => r.name.length), 10);
  const out = [`${title}`, `  ${'stage'.padEnd(w)} ${'n'.padStart(6)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)}`];
  for (const r of rs) out.push(`  ${r.name.padEnd(w)} ${String(r.n).padStart(6)} ${r.p50.toFixed(3).padStart(8)} ${r.p90.toFixed(3).padStart(8)}`);
  return out.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node test/dist/bench/stages.js FILE');
    process.exit(2);
  }
  const lines = parseTrace(readFileSync(file, 'utf8'));
  const sections = [
    formatRows('writes: offset of each stage from the request being decoded on the leader', writeTimeline(lines)),
    formatRows('fsync per member', durations(lines, 'save', 'saved')),
    formatRows('apply per member', durations(lines, 'apply', 'applied')),
    formatRows('linearizable reads', readRounds(lines)),
    formatRows('lock handoff chain (etcd Go Mutex)', lockChain(lines)),
  ].filter((s) => s !== '');
  console.log(sections.length > 0 ? sections.join('\n') : `no stages recognised in ${file} (${lines.length} lines)`);
}
