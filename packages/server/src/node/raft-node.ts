import type { Failpoints } from './failpoints.js';
import type { CoreEntry, CoreHardState, CoreMessage, CoreReadState, CoreReady, CoreSnapshot, CoreSoftState, RaftCore } from './raft-core.js';
import { stage, tracing } from './stage-trace.js';

/** Where persisted entries go so that the Raft core can read them back (the core's Storage). */
export interface RaftLog {
  append(entries: CoreEntry[]): void;
  setHardState(hs: CoreHardState): void;
  applySnapshot(snap: CoreSnapshot): void;
}

/** What the driver needs from the write-ahead log. */
export interface DurableLog {
  save(hs: CoreHardState | undefined, entries: readonly CoreEntry[], sync: boolean): Promise<void>;
  saveSnapshot(mark: { index: number; term: number; voters: bigint[]; learners: bigint[] }): Promise<void>;
}

/** The consumers of a processed Ready, wired by the server. */
export interface ReadyHandlers<M extends CoreMessage> {
  /** Sends messages to peers (fire and forget; the transport queues and drops under pressure). */
  send(messages: M[]): void;
  /** Applies committed entries (synchronously, deterministically). */
  apply(entries: CoreEntry[]): void;
  /** Installs a snapshot received from the leader into the state machine (replaces the backend). */
  installSnapshot(snap: CoreSnapshot): Promise<void>;
  softState(ss: CoreSoftState): void;
  readStates(rs: CoreReadState[]): void;
  hardState(hs: CoreHardState): void;
  /** The loop hit an error it cannot survive: memory and disk may disagree. The process must exit. */
  fatal(err: unknown): void;
}

/**
 * THE driver loop: the one place where Raft's decisions become side effects, in the order the Ready contract
 * demands:
 *
 *   1. a snapshot from the leader is installed and recorded first;
 *   2. a leader sends its messages (see `isLeader`), before it applies: new appends and the commit index reach
 *      the followers without waiting for the leader's apply, so the followers' own clients (most of them, with
 *      a balancing client) and their watchers hear of a commit a little sooner;
 *   3. committed entries are applied: they are already durable on a quorum (earlier Readys persisted them), so
 *      their clients are answered without waiting for this Ready's own fsync;
 *   4. the hard state and new entries are persisted to the WAL (one write, one fdatasync if `mustSync`: group
 *      commit) and handed to the core's storage;
 *   5. everyone else's messages are sent (only now: a vote or an append acknowledgement must not leave before
 *      what it promises is durable);
 *   6. advance.
 *
 * NB: because of step 3 the backend's applied index can run ahead of the commit index in the last persisted
 * hard state if the process dies during step 4; recovery raises the commit index to the applied index (every
 * applied entry was committed).
 *
 * Everything proposed while one Ready is being persisted lands in the next one, so under load one fsync covers
 * many requests. Each step is preceded by a named failpoint that tests can turn into a crash.
 *
 * Concurrency: JS runs one callback at a time; `run` is the only async path and never runs twice at once, so
 * the core is only touched between its awaits, which is what Raft's single-threaded contract requires.
 */
/** etcd-io/raft's MsgApp and MsgAppResp (the type numbers are the wire's). */
const MSG_APP = 3;
const MSG_APP_RESP = 4;

/** The index of the last of `entries` (which must not be empty). */
function lastIndex(entries: readonly CoreEntry[]): number {
  return entries[entries.length - 1]!.index;
}

/** Stage-trace lines for replication traffic: appends with entries, commit-only appends, acknowledgements. */
function traceMessage(dir: 'send' | 'recv', m: CoreMessage): void {
  if (m.type === MSG_APP && m.entries.length > 0) stage(`${dir}-app`, lastIndex(m.entries));
  else if (m.type === MSG_APP) stage(`${dir}-commit`, m.commit);
  else if (m.type === MSG_APP_RESP) stage(`${dir}-ack`, m.index);
}

export class RaftNode<M extends CoreMessage = CoreMessage> {
  private running = false;
  private scheduled = false;
  private earlyScheduled = false;
  private stopped = false;
  /** A Ready's WAL write is in flight: entries committed meanwhile are applied at once (see applyCommitted). */
  private saving = false;
  private ticker: NodeJS.Timeout | undefined;
  /**
   * Set by the server from soft state. A leader sends its messages before its own fsync (the Raft thesis,
   * §10.2.1: its append only counts toward commit once durable, so followers may persist in parallel).
   */
  isLeader = false;

  constructor(
    readonly core: RaftCore<M>,
    private readonly wal: DurableLog,
    private readonly log: RaftLog,
    private readonly handlers: ReadyHandlers<M>,
    private readonly failpoints: Failpoints,
    private readonly tickMs: number,
    private readonly onTick: () => void = () => {},
  ) {}

  start(): void {
    this.ticker = setInterval(() => {
      this.core.tick();
      this.onTick();
      this.kick();
    }, this.tickMs);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    // Let an in-flight Ready finish so the WAL is not closed under it.
    while (this.running) await new Promise((r) => setTimeout(r, 1));
  }

  /** Proposes data; throws if the core refuses (e.g. no leader). */
  propose(data: Uint8Array): void {
    if (tracing) stage('propose', -1);
    this.core.propose(data);
    this.kick();
  }

  readIndex(ctx: Uint8Array): void {
    this.core.readIndex(ctx);
    this.releaseReadStates();
    this.kick();
  }

  step(m: M): void {
    if (tracing) traceMessage('recv', m);
    this.core.step(m);
    this.releaseReadStates();
    if (this.saving && !this.stopped) this.applyCommitted();
    this.kick();
  }

  /**
   * Applies entries that became committed while the current Ready waits for its fsync (an acknowledgement on a
   * leader, a commit index on a follower), instead of after it, as etcd's apply goroutine does: the clients, watchers
   * and reads waiting on them do not also wait for a disk write they do not depend on. The core hands out only
   * entries already durable here, in order, each once. Not while failpoints are armed: their crash points sit
   * around the Ready's own apply step, and tests that use them expect every apply there.
   */
  private applyCommitted(): void {
    if (this.failpoints.enabled) return;
    const ents = this.core.takeCommittedEntries();
    if (ents.length === 0) return;
    try {
      this.applyEntries(ents);
    } catch (err) {
      // As in the loop: a failed apply is fatal (the caller of step would take it for a bad message).
      this.stopped = true;
      this.handlers.fatal(err);
    }
  }

  /** Hands committed entries to the state machine, with their stage-trace lines. */
  private applyEntries(ents: CoreEntry[]): void {
    if (tracing) stage('apply', lastIndex(ents));
    this.handlers.apply(ents);
    if (tracing) stage('applied', lastIndex(ents));
  }

  /**
   * Read states go out as soon as a step produces them: a read must not wait behind the fsync of the Ready being
   * persisted (they need only the applied index to reach theirs, which the read-index layer waits for).
   */
  private releaseReadStates(): void {
    const rs = this.core.takeReadStates();
    if (rs.length > 0) this.handlers.readStates(rs);
  }

  /** Runs `fn` against the core (conf changes, transfers, …) and processes what it produced. */
  withCore<T>(fn: (core: RaftCore<M>) => T): T {
    const out = fn(this.core);
    this.kick();
    return out;
  }

  /**
   * Schedules a pass of the loop unless one is pending or running. While a Ready is being processed (waiting for
   * its fsync, typically), what steps produce meanwhile that may leave at once — heartbeats and their responses,
   * read-index rounds, a leader's appends — is sent from the next turn of the event loop (batched per peer)
   * instead of after that fsync: reads and lock handoffs then never wait behind a slow disk for their messages.
   */
  kick(): void {
    if (this.running && !this.earlyScheduled && !this.stopped) {
      this.earlyScheduled = true;
      setImmediate(() => {
        this.earlyScheduled = false;
        if (this.stopped || !this.running) return;
        const msgs = this.core.takeMessages();
        if (msgs.length > 0) this.send(msgs);
      });
    }
    if (this.scheduled || this.running || this.stopped) return;
    this.scheduled = true;
    // setImmediate: incoming requests and messages queued behind I/O get a chance to join this batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  /** Hands messages to the transport (every send goes through here, so the stage trace sees when they leave). */
  private send(msgs: M[]): void {
    if (tracing) for (const m of msgs) traceMessage('send', m);
    this.handlers.send(msgs);
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      while (!this.stopped && this.core.hasReady()) {
        await this.process(this.core.ready());
      }
    } catch (err) {
      this.stopped = true;
      this.handlers.fatal(err);
    } finally {
      this.running = false;
    }
  }

  private async process(rd: CoreReady<M>): Promise<void> {
    const fp = this.failpoints;
    if (rd.softState) this.handlers.softState(rd.softState);
    if (rd.readStates.length > 0) this.handlers.readStates(rd.readStates);

    if (rd.snapshot) {
      await fp.hit('raftBeforeSaveSnapshot');
      await this.handlers.installSnapshot(rd.snapshot);
      const md = rd.snapshot.metadata;
      await this.wal.saveSnapshot({ index: md.index, term: md.term, voters: md.confState.voters, learners: md.confState.learners });
      this.log.applySnapshot(rd.snapshot);
      await fp.hit('raftAfterSaveSnapshot');
    }

    const early = this.isLeader && rd.messages.length > 0;
    if (early) {
      await fp.hit('raftBeforeSend');
      this.send(rd.messages);
      await fp.hit('raftAfterSend');
    }

    if (rd.committedEntries.length > 0) {
      await fp.hit('raftBeforeApply');
      this.applyEntries(rd.committedEntries);
      await fp.hit('raftAfterApply');
    }

    await fp.hit('raftBeforeSave');
    const traceSave = tracing && rd.entries.length > 0;
    if (traceSave) stage('save', lastIndex(rd.entries));
    this.saving = true;
    try {
      await this.wal.save(rd.hardState, rd.entries, rd.mustSync);
    } finally {
      this.saving = false;
    }
    if (traceSave) stage('saved', lastIndex(rd.entries));
    if (rd.hardState) {
      this.log.setHardState(rd.hardState);
      this.handlers.hardState(rd.hardState);
    }
    if (rd.entries.length > 0) this.log.append(rd.entries);
    await fp.hit('raftAfterSave');

    if (!early && rd.messages.length > 0) {
      await fp.hit('raftBeforeSend');
      this.send(rd.messages);
      await fp.hit('raftAfterSend');
    }

    this.core.advance(rd);
  }
}
