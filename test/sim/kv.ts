/**
 * The simulated service: a key-value store of small integers replicated through Raft, with client sessions so
 * that a retried write is applied once (a write carries its client id and a per-client sequence number; the store
 * remembers the last sequence number applied per client and ignores older or equal ones).
 */

/** A write command as carried in a log entry. */
export interface PutCommand {
  clientId: number;
  seq: number;
  key: number;
  value: number;
}

const PUT = 1;

/** 14 bytes: op(1) clientId(4) seq(4) key(1) value(4), big-endian. */
export function encodePut(c: PutCommand): Uint8Array {
  const b = new Uint8Array(14);
  const v = new DataView(b.buffer);
  b[0] = PUT;
  v.setUint32(1, c.clientId);
  v.setUint32(5, c.seq);
  b[9] = c.key;
  v.setUint32(10, c.value);
  return b;
}

export function decodePut(b: Uint8Array): PutCommand {
  if (b.length !== 14 || b[0] !== PUT) throw new Error(`not a put command (${b.length} bytes)`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { clientId: v.getUint32(1), seq: v.getUint32(5), key: b[9]!, value: v.getUint32(10) };
}

export class KvStore {
  /** key → value; absent keys read as null. */
  values = new Map<number, number>();
  /** clientId → highest sequence number applied. */
  lastSeq = new Map<number, number>();

  /** Applies a put unless it is a duplicate; returns whether it changed the store. */
  apply(c: PutCommand): boolean {
    const last = this.lastSeq.get(c.clientId) ?? 0;
    if (c.seq <= last) return false;
    this.lastSeq.set(c.clientId, c.seq);
    this.values.set(c.key, c.value);
    return true;
  }

  get(key: number): number | null {
    return this.values.get(key) ?? null;
  }

  /** Serializes the store plus `chain` (the hash of the applied entry sequence) for a snapshot. */
  encode(chain: number): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ v: [...this.values], s: [...this.lastSeq], c: chain }));
  }

  static decode(data: Uint8Array): { store: KvStore; chain: number } {
    const store = new KvStore();
    if (data.length === 0) return { store, chain: 0 };
    const o = JSON.parse(new TextDecoder().decode(data)) as { v: [number, number][]; s: [number, number][]; c: number };
    store.values = new Map(o.v);
    store.lastSeq = new Map(o.s);
    return { store, chain: o.c };
  }
}

/**
 * Extends the hash chain of an applied log with one entry (FNV-1a over index, term and data). Two nodes that
 * applied the same entries up to an index have the same chain value there, so comparing chains compares whole
 * applied histories in O(1).
 */
export function chainHash(prev: number, index: number, term: number, data: Uint8Array): number {
  let h = (prev ^ 0x811c9dc5) >>> 0;
  h = mix(h, index % 0x1_0000_0000);
  h = mix(h, Math.floor(index / 0x1_0000_0000));
  h = mix(h, term >>> 0);
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193) >>> 0;
  return h;
}

function mix(h: number, x: number): number {
  h = Math.imul(h ^ (x & 0xff), 0x01000193);
  h = Math.imul(h ^ ((x >>> 8) & 0xff), 0x01000193);
  h = Math.imul(h ^ ((x >>> 16) & 0xff), 0x01000193);
  h = Math.imul(h ^ (x >>> 24), 0x01000193);
  return h >>> 0;
}
