import { crc32 } from 'node:zlib';

/**
 * WAL record framing. Every record is 8-byte aligned:
 *
 *     offset  size  field
 *     0       4     length L of (type + payload), little-endian; 0 marks the end of written data
 *     4       4     CRC-32 (IEEE, zlib) of the L bytes (type + payload), little-endian
 *     8       1     record type
 *     9       L-1   payload
 *     8+L     pad   zero bytes up to the next multiple of 8
 *
 * The type byte's high bit marks the first record of a batch (one `Wal.save`, one write call, one fdatasync).
 *
 * Segments are zero-filled before use, so the first zero length after the last record ends the log. Alignment
 * lets recovery probe every 8-byte offset after damage: if a later batch starts after it, the damage is in the
 * middle of the log (corruption); if not, only the last batch was torn by a crash.
 */
export enum RecordType {
  /** Segment header: format version, segment sequence, member id. */
  Meta = 1,
  /** A Raft log entry: term u64, index u64, entry type u8, data. */
  Entry = 2,
  /** Raft hard state: term u64, vote u64, commit u64. */
  HardState = 3,
  /**
   * The log was compacted: entries up to index (of term) live in the backend. index u64, term u64, then the
   * membership at that index: voter count u32, learner count u32, the ids (u64 each).
   */
  Snapshot = 4,
}

export const HEADER = 8;
const BATCH_START = 0x80;
export const WAL_VERSION = 1;

export interface WalEntry {
  term: number;
  index: number;
  type: number;
  data: Uint8Array;
}

export interface WalHardState {
  term: number;
  vote: bigint;
  commit: number;
}

export interface SnapshotMark {
  index: number;
  term: number;
  /** Membership at `index` (Raft's ConfState), so a restart can rebuild the log's starting point. */
  voters: bigint[];
  learners: bigint[];
}

export type DecodedRecord =
  | { type: RecordType.Meta; version: number; seq: number; memberId: bigint }
  | { type: RecordType.Entry; entry: WalEntry }
  | { type: RecordType.HardState; hardState: WalHardState }
  | { type: RecordType.Snapshot; snapshot: SnapshotMark };

export function alignedSize(payloadLen: number): number {
  return (HEADER + 1 + payloadLen + 7) & ~7;
}

/** Appends records into one contiguous buffer (one write per batch). */
export class RecordWriter {
  private buf = Buffer.alloc(64 * 1024);
  len = 0;
  private first = true;

  private reserve(payloadLen: number): number {
    const size = alignedSize(payloadLen);
    if (this.len + size > this.buf.length) {
      let n = this.buf.length * 2;
      while (n < this.len + size) n *= 2;
      const next = Buffer.alloc(n);
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    const at = this.len;
    this.len += size;
    // Padding must be zero; the buffer may hold older bytes after reset().
    this.buf.fill(0, at, this.len);
    return at;
  }

  private seal(at: number, type: RecordType, payloadLen: number): void {
    const L = payloadLen + 1;
    this.buf[at + HEADER] = this.first ? type | BATCH_START : type;
    this.first = false;
    this.buf.writeUInt32LE(L, at);
    this.buf.writeUInt32LE(crc32(this.buf.subarray(at + HEADER, at + HEADER + L)), at + 4);
  }

  meta(seq: number, memberId: bigint): void {
    const at = this.reserve(20);
    const p = at + HEADER + 1;
    this.buf.writeUInt32LE(WAL_VERSION, p);
    this.buf.writeBigUInt64LE(BigInt(seq), p + 4);
    this.buf.writeBigUInt64LE(memberId, p + 12);
    this.seal(at, RecordType.Meta, 20);
  }

  entry(e: WalEntry): void {
    const at = this.reserve(17 + e.data.length);
    const p = at + HEADER + 1;
    this.buf.writeBigUInt64LE(BigInt(e.term), p);
    this.buf.writeBigUInt64LE(BigInt(e.index), p + 8);
    this.buf[p + 16] = e.type;
    this.buf.set(e.data, p + 17);
    this.seal(at, RecordType.Entry, 17 + e.data.length);
  }

  hardState(hs: WalHardState): void {
    const at = this.reserve(24);
    const p = at + HEADER + 1;
    this.buf.writeBigUInt64LE(BigInt(hs.term), p);
    this.buf.writeBigUInt64LE(hs.vote, p + 8);
    this.buf.writeBigUInt64LE(BigInt(hs.commit), p + 16);
    this.seal(at, RecordType.HardState, 24);
  }

  snapshot(s: SnapshotMark): void {
    const len = 24 + 8 * (s.voters.length + s.learners.length);
    const at = this.reserve(len);
    const p = at + HEADER + 1;
    this.buf.writeBigUInt64LE(BigInt(s.index), p);
    this.buf.writeBigUInt64LE(BigInt(s.term), p + 8);
    this.buf.writeUInt32LE(s.voters.length, p + 16);
    this.buf.writeUInt32LE(s.learners.length, p + 20);
    [...s.voters, ...s.learners].forEach((id, i) => this.buf.writeBigUInt64LE(id, p + 24 + 8 * i));
    this.seal(at, RecordType.Snapshot, len);
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  /** Starts a new batch: the next record written is marked as a batch start. */
  reset(): void {
    this.len = 0;
    this.first = true;
  }
}

export type ReadOutcome =
  | { kind: 'record'; record: DecodedRecord; next: number; batchStart: boolean }
  /** A zero length at an aligned offset: the end of written data. */
  | { kind: 'end' }
  /** Something that is not a valid record (bad CRC, impossible length, unknown type, truncated payload). */
  | { kind: 'bad'; reason: string };

/** Reads the record at `off` (8-byte aligned) of a segment's contents. */
export function readRecord(buf: Buffer, off: number): ReadOutcome {
  if (off + HEADER > buf.length) return { kind: 'end' };
  const L = buf.readUInt32LE(off);
  if (L === 0) return { kind: 'end' };
  const end = off + HEADER + L;
  if (end > buf.length) return { kind: 'bad', reason: `record length ${L} runs past the segment` };
  const body = buf.subarray(off + HEADER, end);
  if (crc32(body) !== buf.readUInt32LE(off + 4)) return { kind: 'bad', reason: 'CRC mismatch' };
  const p = body.subarray(1);
  const next = (end + 7) & ~7;
  const big = (o: number) => Number(p.readBigUInt64LE(o));
  const batchStart = (body[0]! & BATCH_START) !== 0;
  switch (body[0]! & ~BATCH_START) {
    case RecordType.Meta:
      if (p.length !== 20) return { kind: 'bad', reason: 'bad meta record' };
      return { kind: 'record', next, batchStart, record: { type: RecordType.Meta, version: p.readUInt32LE(0), seq: big(4), memberId: p.readBigUInt64LE(12) } };
    case RecordType.Entry:
      if (p.length < 17) return { kind: 'bad', reason: 'bad entry record' };
      return {
        kind: 'record',
        next,
        batchStart,
        record: { type: RecordType.Entry, entry: { term: big(0), index: big(8), type: p[16]!, data: Buffer.from(p.subarray(17)) } },
      };
    case RecordType.HardState:
      if (p.length !== 24) return { kind: 'bad', reason: 'bad hard state record' };
      return { kind: 'record', next, batchStart, record: { type: RecordType.HardState, hardState: { term: big(0), vote: p.readBigUInt64LE(8), commit: big(16) } } };
    case RecordType.Snapshot:
      {
        if (p.length < 24) return { kind: 'bad', reason: 'bad snapshot record' };
        const nv = p.readUInt32LE(16);
        const nl = p.readUInt32LE(20);
        if (p.length !== 24 + 8 * (nv + nl)) return { kind: 'bad', reason: 'bad snapshot record' };
        const ids = Array.from({ length: nv + nl }, (_, i) => p.readBigUInt64LE(24 + 8 * i));
        return {
          kind: 'record',
          next,
          batchStart,
          record: { type: RecordType.Snapshot, snapshot: { index: big(0), term: big(8), voters: ids.slice(0, nv), learners: ids.slice(nv) } },
        };
      }
    default:
      return { kind: 'bad', reason: `unknown record type ${body[0]}` };
  }
}
