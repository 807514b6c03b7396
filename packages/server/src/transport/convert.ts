import { raftpb, type Init } from '@latchkey/proto';
import type { CoreEntry, CoreMessage, CoreSnapshot } from '../node/raft-core.js';

/** Raft core messages ↔ the peer protocol's protobuf messages (proto/internal/raft.proto). */

export function entryToProto(e: CoreEntry): Init<raftpb.Entry> {
  return { term: e.term, index: e.index, type: e.type, data: e.data };
}

export function entryFromProto(e: raftpb.Entry): CoreEntry {
  return { term: e.term, index: e.index, type: e.type, data: e.data };
}

export function snapshotToProto(s: CoreSnapshot): Init<raftpb.Snapshot> {
  return {
    metadata: { index: s.metadata.index, term: s.metadata.term, confState: { voters: s.metadata.confState.voters, learners: s.metadata.confState.learners } },
    data: s.data,
  };
}

export function snapshotFromProto(s: raftpb.Snapshot): CoreSnapshot {
  const md = s.metadata;
  return {
    metadata: { index: md?.index ?? 0, term: md?.term ?? 0, confState: { voters: md?.confState?.voters ?? [], learners: md?.confState?.learners ?? [] } },
    data: s.data,
  };
}

export function messageToProto(m: CoreMessage): Init<raftpb.Message> {
  const out: Init<raftpb.Message> = {
    type: m.type,
    to: m.to,
    from: m.from,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map(entryToProto),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context,
    commitOnly: m.commitOnly,
  };
  if (m.snapshot) out.snapshot = snapshotToProto(m.snapshot);
  return out;
}

export function messageFromProto(m: raftpb.Message): CoreMessage {
  const out: CoreMessage = {
    type: m.type,
    to: m.to,
    from: m.from,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map(entryFromProto),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context,
    commitOnly: m.commitOnly,
  };
  if (m.snapshot) out.snapshot = snapshotFromProto(m.snapshot);
  return out;
}
