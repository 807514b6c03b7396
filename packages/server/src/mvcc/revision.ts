/**
 * A revision names one change in the store: `main` is the store revision of the request that made it (every
 * changing Put, DeleteRange or Txn gets exactly one, starting at 2 on a new store whose revision is 1), `sub` the
 * position of the change inside that request (0, 1, 2… for the keys one Txn touches).
 *
 * On disk a revision is 12 bytes: main as an unsigned 64-bit big-endian integer, then sub as an unsigned 32-bit
 * big-endian integer, so byte order equals revision order.
 */
export interface Revision {
  readonly main: bigint;
  readonly sub: number;
}

export const REVISION_BYTES = 12;

export function compareRevision(a: Revision, b: Revision): number {
  if (a.main !== b.main) return a.main < b.main ? -1 : 1;
  return a.sub - b.sub;
}

export function encodeRevision(rev: Revision, out: Buffer = Buffer.allocUnsafe(REVISION_BYTES)): Buffer {
  out.writeBigUInt64BE(rev.main, 0);
  out.writeUInt32BE(rev.sub, 8);
  return out;
}

export function decodeRevision(buf: Uint8Array): Revision {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return { main: b.readBigUInt64BE(0), sub: b.readUInt32BE(8) };
}

/** The smallest revision with this main revision (sub 0), for range bounds. */
export function revisionStart(main: bigint): Revision {
  return { main, sub: 0 };
}
