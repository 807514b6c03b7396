import {
  ConfChangeType,
  decodeConfChange,
  EntryType,
  MessageType,
  StateType,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type Ready,
  type Snapshot,
  type SoftState,
} from './types.js';

/**
 * One-line, human-readable renderings of Raft values, used by the scripted tests, the simulator's traces and logs.
 * Pure functions; none is on a hot path.
 */

/** Printable ASCII as `"text"`, anything else as hex (`0x0a1b`); long values are cut after 32 bytes. */
export function describeBytes(b: Uint8Array): string {
  const n = Math.min(b.length, 32);
  let printable = true;
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
      printable = false;
      break;
    }
  }
  const more = b.length > n ? '…' : '';
  if (printable) return `"${String.fromCharCode(...b.subarray(0, n))}${more}"`;
  let hex = '0x';
  for (let i = 0; i < n; i++) hex += b[i]!.toString(16).padStart(2, '0');
  return hex + more;
}

/** `2/5 normal "put x"` or `2/6 conf AddLearnerNode 4`. */
export function describeEntry(e: Entry): string {
  if (e.type === EntryType.ConfChange) {
    try {
      const cc = decodeConfChange(e.data);
      return `${e.term}/${e.index} conf ${ConfChangeType[cc.type]} ${cc.nodeId}`;
    } catch {
      return `${e.term}/${e.index} conf <malformed ${describeBytes(e.data)}>`;
    }
  }
  return `${e.term}/${e.index} normal ${describeBytes(e.data)}`;
}

export function describeEntries(ents: readonly Entry[]): string {
  return ents.map(describeEntry).join(', ');
}

export function describeConfState(cs: ConfState): string {
  const l = cs.learners.length > 0 ? ` learners=(${cs.learners.join(' ')})` : '';
  return `voters=(${cs.voters.join(' ')})${l}`;
}

export function describeSnapshot(s: Snapshot): string {
  return `index=${s.metadata.index} term=${s.metadata.term} ${describeConfState(s.metadata.confState)}`;
}

export function describeHardState(hs: HardState): string {
  return `term=${hs.term} vote=${hs.vote} commit=${hs.commit}`;
}

export function describeSoftState(ss: SoftState): string {
  return `${StateType[ss.raftState]} lead=${ss.lead}`;
}

/** `1->2 MsgApp term:1 log:1/2 commit:2 entries:[1/3 normal ""]`. */
export function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${MessageType[m.type]} term:${m.term}`;
  switch (m.type) {
    case MessageType.MsgAppResp:
      s += m.reject ? ` rejected index:${m.index} hint:${m.logTerm}/${m.rejectHint}` : ` index:${m.index}`;
      break;
    case MessageType.MsgVoteResp:
    case MessageType.MsgPreVoteResp:
      if (m.reject) s += ' rejected';
      break;
    case MessageType.MsgReadIndexResp:
      s += ` index:${m.index}`;
      break;
    default:
      if (m.logTerm !== 0 || m.index !== 0) s += ` log:${m.logTerm}/${m.index}`;
      if (m.commit !== 0) s += ` commit:${m.commit}`;
      if (m.reject) s += ' rejected';
      if (m.commitOnly) s += ' commit-only';
  }
  if (m.entries.length > 0) {
    s += m.type === MessageType.MsgReadIndex || m.type === MessageType.MsgReadIndexResp ? ` ctx:${describeBytes(m.entries[0]!.data)}` : ` entries:[${describeEntries(m.entries)}]`;
  }
  if (m.snapshot !== undefined) s += ` snapshot:{${describeSnapshot(m.snapshot)}}`;
  if (m.context.length > 0) s += ` context:${describeBytes(m.context)}`;
  return s;
}

/** A multi-line rendering of a Ready; empty parts are left out. Lines are prefixed with `indent`. */
export function describeReady(rd: Ready, indent = ''): string {
  const out: string[] = [];
  if (rd.softState !== undefined) out.push(`soft-state: ${describeSoftState(rd.softState)}`);
  if (rd.hardState !== undefined) out.push(`hard-state: ${describeHardState(rd.hardState)}${rd.mustSync ? '' : ' (no sync)'}`);
  if (rd.snapshot !== undefined) out.push(`snapshot: ${describeSnapshot(rd.snapshot)}`);
  if (rd.entries.length > 0) {
    out.push('entries:');
    for (const e of rd.entries) out.push(`  ${describeEntry(e)}`);
  }
  if (rd.committedEntries.length > 0) {
    out.push('committed:');
    for (const e of rd.committedEntries) out.push(`  ${describeEntry(e)}`);
  }
  if (rd.readStates.length > 0) {
    out.push('read-states:');
    for (const r of rd.readStates) out.push(`  index:${r.index} ctx:${describeBytes(r.requestCtx)}`);
  }
  if (rd.messages.length > 0) {
    out.push('messages:');
    for (const m of rd.messages) out.push(`  ${describeMessage(m)}`);
  }
  if (rd.mustSync && rd.hardState === undefined) out.push('must-sync');
  return out.map((l) => indent + l).join('\n');
}
