import { AlarmMember, KeyValue, Reader, Role, User, WireError, internalpb, withWriter } from '@latchkey/proto';
import { type Backend, type BackendView, Table } from '../backend/backend.js';
import type { BoltReader, BoltBucket } from './bbolt-reader.js';
import type { BoltWriter } from './bbolt-writer.js';
import { LayoutError } from './errors.js';

/**
 * etcd's backend schema (etcd 3.4; 3.5 reads it unchanged) and its conversion from and to latchkey's tables.
 *
 * The bbolt file holds one top-level bucket per concern, in this (byte) order, each with its keys in byte order:
 *
 *   alarm            AlarmMember protobuf → empty value                    ← our Meta "alarms" (12-byte records)
 *   auth             "authEnabled" → [1] or [0] (only once auth was ever switched), "authRevision" → u64 BE
 *   authRoles        role name → authpb.Role                                ← our Auth "role/<name>"
 *   authUsers        user name → authpb.User                                ← our Auth "user/<name>"
 *   cluster          "clusterVersion" → "3.5.0"
 *   key              revision → mvccpb.KeyValue                             ← our Key table
 *   lease            lease id (8 bytes BE) → leasepb.Lease {1: ID, 2: TTL, 3: RemainingTTL}
 *   members          member id in hex → JSON {"id","peerURLs","isLearner"?,"name"?,"clientURLs"?}
 *   members_removed  member id in hex → "removed"                           ← our Meta "removed/<hex>"
 *   meta             "consistent_index" → u64 BE (the applied Raft index),
 *                    "finishedCompactRev", "scheduledCompactRev" → revision bytes (only once compacted)
 *
 * Revisions: etcd's are 17 bytes, main (8 bytes BE) '_' sub (8 bytes BE), plus a trailing 't' (18 bytes) for a
 * deletion, whose value is a KeyValue holding only the key. Ours are 12 bytes (main, then sub as 4 bytes BE) and a
 * record = 1 type byte (0 put, 1 tombstone) + the KeyValue (a tombstone's KeyValue also carries mod_revision).
 * Byte order is revision order in both, so the key table converts as a stream. Example, `put a 1; del a`:
 *
 *   ours:  00..02 00000000 → 00 0a0161 1002 1802 2001 2a0131     etcd:  00..02 5f 00..00   → 0a0161 1002 1802 2001 2a0131
 *          00..03 00000000 → 01 0a0161 1803                             00..03 5f 00..00 74 → 0a0161
 *
 * The auth revision: etcd's starts at 1 when the store is created and counts every change; ours starts at 0 and
 * counts the same changes, so etcd's = ours + 1.
 *
 * Restoring keeps what etcd's `snapshot restore` keeps (keys with their history and compaction point, leases,
 * auth, alarms) and drops what belongs to the old cluster (members, removed members, cluster version, applied
 * index): the restored member bootstraps a new cluster.
 */

export const BUCKETS = {
  alarm: 'alarm',
  auth: 'auth',
  authRoles: 'authRoles',
  authUsers: 'authUsers',
  cluster: 'cluster',
  key: 'key',
  lease: 'lease',
  members: 'members',
  membersRemoved: 'members_removed',
  meta: 'meta',
} as const;

// Our own keys (owned by mvcc/store.ts, apply/applier.ts, apply/alarms.ts, auth/store.ts, node/membership.ts).
const OUR_COMPACT_REV = Buffer.from('compactRev');
const OUR_APPLIED = Buffer.from('consistentIndex');
const OUR_ALARMS = Buffer.from('alarms');
const OUR_REMOVED = 'removed/';
const OUR_AUTH_ENABLED = Buffer.from('enabled');
const OUR_AUTH_REVISION = Buffer.from('revision');
const OUR_USER = 'user/';
const OUR_ROLE = 'role/';
const RECORD_PUT = 0;
const RECORD_TOMBSTONE = 1;

/** Flush the writer's pages once this much is waiting (bounds memory for a store of any size). */
const FLUSH_BYTES = 4 * 1024 * 1024;
/** Entries converted per synchronous step before yielding to the event loop. */
const CHUNK_ENTRIES = 1024;

export interface ExportContext {
  /** Written to cluster/clusterVersion. */
  clusterVersion: string;
}

/**
 * Writes the state visible in `view` into `w` as etcd's backend (all buckets above), yielding to the event loop
 * between chunks so that a large store converts without stalling the server.
 */
export async function writeEtcdLayout(view: BackendView, w: BoltWriter, ctx: ExportContext): Promise<void> {
  const bucket = async (name: string, fill: () => Promise<void> | void): Promise<void> => {
    w.bucket(Buffer.from(name));
    await fill();
    w.end();
    await w.flush();
  };

  await bucket(BUCKETS.alarm, () => {
    const raw = view.get(Table.Meta, OUR_ALARMS);
    const keys = new Map<string, Buffer>();
    for (let i = 0; raw && i + 12 <= raw.length; i += 12) {
      const k = AlarmMember.encode({ memberID: raw.readBigUInt64BE(i), alarm: raw.readUInt32BE(i + 8) });
      keys.set(k.toString('hex'), k);
    }
    for (const k of [...keys.values()].sort(Buffer.compare)) w.put(k, Buffer.alloc(0));
  });

  await bucket(BUCKETS.auth, () => {
    const enabled = view.get(Table.Auth, OUR_AUTH_ENABLED);
    if (enabled) w.put(Buffer.from('authEnabled'), Buffer.of(enabled[0] === 1 ? 1 : 0));
    const rev = view.get(Table.Auth, OUR_AUTH_REVISION)?.readBigUInt64BE(0) ?? 0n;
    w.put(Buffer.from('authRevision'), u64be(rev + 1n));
  });

  for (const [name, prefix] of [
    [BUCKETS.authRoles, OUR_ROLE],
    [BUCKETS.authUsers, OUR_USER],
  ] as const) {
    await bucket(name, () => {
      view.scan(Table.Auth, Buffer.from(prefix), prefixEnd(prefix), (k, v) => {
        w.put(k.subarray(prefix.length), v);
      });
    });
  }

  await bucket(BUCKETS.cluster, () => {
    w.put(Buffer.from('clusterVersion'), Buffer.from(ctx.clusterVersion));
  });

  await bucket(BUCKETS.key, () =>
    chunkedScan(view, Table.Key, w, (k, v) => {
      if (k.length !== 12 || v.length < 1) throw new LayoutError(`our key table holds a record of ${k.length}/${v.length} bytes`);
      const tombstone = v[0] === RECORD_TOMBSTONE;
      const rev = Buffer.alloc(tombstone ? 18 : 17);
      k.copy(rev, 0, 0, 8);
      rev[8] = 0x5f; // '_'
      rev.writeUInt32BE(k.readUInt32BE(8), 13);
      if (tombstone) rev[17] = 0x74; // 't'
      // etcd's deletion record holds only the key.
      w.put(rev, tombstone ? KeyValue.encode({ key: KeyValue.decode(v.subarray(1)).key }) : v.subarray(1));
    }),
  );

  await bucket(BUCKETS.lease, () =>
    chunkedScan(view, Table.Lease, w, (k, v) => {
      const id = k.readBigInt64BE(0);
      w.put(k, encodeLease({ id, ttl: v.readBigInt64BE(0), remainingTTL: v.length >= 16 ? v.readBigInt64BE(8) : 0n }));
    }),
  );

  await bucket(BUCKETS.members, () => {
    const members: [Buffer, Buffer][] = [];
    view.scan(Table.Members, undefined, undefined, (_k, v) => {
      const m = internalpb.MemberRecord.decode(v);
      members.push([Buffer.from(m.id.toString(16)), Buffer.from(memberJson(m.id, m.peerUrls, m.isLearner, m.name, m.clientUrls))]);
    });
    for (const [k, v] of members.sort((a, b) => Buffer.compare(a[0], b[0]))) w.put(k, v);
  });

  await bucket(BUCKETS.membersRemoved, () => {
    const ids: Buffer[] = [];
    view.scan(Table.Meta, Buffer.from(OUR_REMOVED), prefixEnd(OUR_REMOVED), (k) => {
      ids.push(k.subarray(OUR_REMOVED.length));
    });
    for (const id of ids.sort(Buffer.compare)) w.put(id, Buffer.from('removed'));
  });

  await bucket(BUCKETS.meta, () => {
    const applied = view.get(Table.Meta, OUR_APPLIED);
    w.put(Buffer.from('consistent_index'), u64be(applied ? applied.readBigUInt64BE(0) : 0n));
    const compact = view.get(Table.Meta, OUR_COMPACT_REV)?.readBigInt64BE(0);
    if (compact !== undefined && compact > 0n) {
      w.put(Buffer.from('finishedCompactRev'), etcdRevision(compact, 0n));
      w.put(Buffer.from('scheduledCompactRev'), etcdRevision(compact, 0n));
    }
  });
}

/** What an etcd backend held beyond the tables: the compaction to finish after loading (0n: none). */
export interface ImportResult {
  /** Store revision of the newest record (main of the last key in `key`). */
  revision: bigint;
  /** The finished compaction point imported (0n: never compacted). */
  compactRevision: bigint;
  /** A compaction etcd had scheduled but not finished; the caller runs it (etcd resumes it at startup). */
  pendingCompaction: bigint;
  keys: number;
  leases: number;
  users: number;
  roles: number;
}

/**
 * Loads an etcd backend (a bbolt file laid out as above) into an empty latchkey backend, in batches. Throws
 * LayoutError on records that are not etcd's.
 */
export function readEtcdLayout(bolt: BoltReader, backend: Backend): ImportResult {
  const root = bolt.root();
  const result: ImportResult = { revision: 0n, compactRevision: 0n, pendingCompaction: 0n, keys: 0, leases: 0, users: 0, roles: 0 };
  const batched = (bucket: BoltBucket | undefined, fn: (k: Buffer, v: Buffer) => void): void => {
    if (!bucket) return;
    let pending: [Buffer, Buffer][] = [];
    const flush = (): void => {
      const items = pending;
      pending = [];
      backend.batch(() => {
        for (const [k, v] of items) fn(k, v);
      });
    };
    for (const e of bucket.entries()) {
      if (e.bucket) throw new LayoutError(`unexpected nested bucket ${JSON.stringify(e.key.toString('latin1'))}`);
      pending.push([e.key, e.value]);
      if (pending.length >= CHUNK_ENTRIES) flush();
    }
    flush();
  };

  const rev = Buffer.alloc(12);
  batched(root.bucket(Buffer.from(BUCKETS.key)), (k, v) => {
    if (!((k.length === 17 || (k.length === 18 && k[17] === 0x74)) && k[8] === 0x5f)) throw new LayoutError(`key bucket: key ${k.toString('hex')} is not a revision`);
    const main = k.readBigInt64BE(0);
    const sub = k.readBigUInt64BE(9);
    if (main < 1n || sub > 0xffffffffn) throw new LayoutError(`key bucket: revision ${main}.${sub} out of range`);
    const tombstone = k.length === 18;
    let kv: KeyValue;
    try {
      kv = KeyValue.decode(v);
    } catch (err) {
      throw new LayoutError(`key bucket: revision ${main}.${sub} does not hold a KeyValue`, { cause: err });
    }
    if (kv.key.length === 0) throw new LayoutError(`key bucket: revision ${main}.${sub} has an empty key`);
    k.copy(rev, 0, 0, 8);
    rev.writeUInt32BE(Number(sub), 8);
    const body = tombstone ? KeyValue.encode({ key: kv.key, modRevision: main }) : v;
    backend.put(Table.Key, rev, Buffer.concat([Buffer.of(tombstone ? RECORD_TOMBSTONE : RECORD_PUT), body]));
    result.revision = main;
    result.keys++;
  });

  const meta = root.bucket(Buffer.from(BUCKETS.meta));
  const finished = meta?.get(Buffer.from('finishedCompactRev'));
  const scheduled = meta?.get(Buffer.from('scheduledCompactRev'));
  if (finished) result.compactRevision = revisionMain(finished, 'finishedCompactRev');
  const scheduledRev = scheduled ? revisionMain(scheduled, 'scheduledCompactRev') : 0n;
  if (scheduledRev > result.compactRevision) result.pendingCompaction = scheduledRev;
  backend.batch(() => {
    if (result.compactRevision > 0n) {
      const v = Buffer.alloc(8);
      v.writeBigInt64BE(result.compactRevision);
      backend.put(Table.Meta, OUR_COMPACT_REV, v);
    }
  });

  batched(root.bucket(Buffer.from(BUCKETS.lease)), (k, v) => {
    if (k.length !== 8) throw new LayoutError(`lease bucket: key of ${k.length} bytes`);
    const l = decodeLease(v);
    const rec = Buffer.alloc(16);
    rec.writeBigInt64BE(l.ttl, 0);
    rec.writeBigInt64BE(l.remainingTTL, 8);
    backend.put(Table.Lease, k, rec);
    result.leases++;
  });

  const auth = root.bucket(Buffer.from(BUCKETS.auth));
  backend.batch(() => {
    const enabled = auth?.get(Buffer.from('authEnabled'));
    if (enabled) backend.put(Table.Auth, OUR_AUTH_ENABLED, Buffer.of(enabled[0] === 1 ? 1 : 0));
    const authRev = auth?.get(Buffer.from('authRevision'));
    if (authRev) {
      if (authRev.length !== 8) throw new LayoutError(`auth/authRevision of ${authRev.length} bytes`);
      const ours = authRev.readBigUInt64BE(0) - 1n;
      backend.put(Table.Auth, OUR_AUTH_REVISION, u64be(ours > 0n ? ours : 0n));
    }
  });
  batched(root.bucket(Buffer.from(BUCKETS.authUsers)), (k, v) => {
    const u = decodeOr(() => User.decode(v), `authUsers: ${k.toString()} is not an authpb.User`);
    if (!Buffer.from(u.name).equals(k)) throw new LayoutError(`authUsers: key ${k.toString()} holds user ${Buffer.from(u.name).toString()}`);
    backend.put(Table.Auth, Buffer.concat([Buffer.from(OUR_USER), k]), v);
    result.users++;
  });
  batched(root.bucket(Buffer.from(BUCKETS.authRoles)), (k, v) => {
    const r = decodeOr(() => Role.decode(v), `authRoles: ${k.toString()} is not an authpb.Role`);
    if (!Buffer.from(r.name).equals(k)) throw new LayoutError(`authRoles: key ${k.toString()} holds role ${Buffer.from(r.name).toString()}`);
    backend.put(Table.Auth, Buffer.concat([Buffer.from(OUR_ROLE), k]), v);
    result.roles++;
  });

  const alarms: Buffer[] = [];
  for (const e of root.bucket(Buffer.from(BUCKETS.alarm))?.entries() ?? []) {
    const a = decodeOr(() => AlarmMember.decode(e.key), `alarm: ${e.key.toString('hex')} is not an AlarmMember`);
    const rec = Buffer.alloc(12);
    rec.writeBigUInt64BE(BigInt.asUintN(64, a.memberID), 0);
    rec.writeUInt32BE(a.alarm, 8);
    alarms.push(rec);
  }
  if (alarms.length > 0) backend.batch(() => backend.put(Table.Meta, OUR_ALARMS, Buffer.concat(alarms)));
  return result;
}

// ------------------------------------------------------------------------------------------------ helpers

/** Scans a whole table in chunks, flushing the writer and yielding between them (the view stays consistent). */
async function chunkedScan(view: BackendView, table: Table, w: BoltWriter, fn: (k: Buffer, v: Buffer) => void): Promise<void> {
  let start: Buffer | undefined;
  for (;;) {
    let n = 0;
    let last: Buffer | undefined;
    let stopped = false;
    view.scan(table, start, undefined, (k, v) => {
      fn(k, v);
      last = k;
      if (++n < CHUNK_ENTRIES && w.pendingBytes < FLUSH_BYTES) return true;
      stopped = true;
      return false;
    });
    if (!stopped) return;
    await w.flush();
    // Resume just after the last key: the smallest key greater than it.
    start = Buffer.concat([last!, Buffer.of(0)]);
    await new Promise<void>((r) => setImmediate(r));
  }
}

/** etcd's leasepb.Lease: ID = 1, TTL = 2, RemainingTTL = 3 (int64 varints; zero fields omitted). */
export function encodeLease(l: { id: bigint; ttl: bigint; remainingTTL: bigint }): Buffer {
  return withWriter((w) => {
    if (l.id !== 0n) {
      w.tag(1, 0);
      w.int64(l.id);
    }
    if (l.ttl !== 0n) {
      w.tag(2, 0);
      w.int64(l.ttl);
    }
    if (l.remainingTTL !== 0n) {
      w.tag(3, 0);
      w.int64(l.remainingTTL);
    }
  });
}

export function decodeLease(buf: Uint8Array): { id: bigint; ttl: bigint; remainingTTL: bigint } {
  const out = { id: 0n, ttl: 0n, remainingTTL: 0n };
  try {
    const r = new Reader(buf);
    while (r.pos < buf.length) {
      const tag = r.uint32();
      const field = tag >>> 3;
      const wt = tag & 7;
      if (wt === 0 && field >= 1 && field <= 3) {
        const v = r.int64();
        if (field === 1) out.id = v;
        else if (field === 2) out.ttl = v;
        else out.remainingTTL = v;
      } else {
        r.skip(wt);
      }
    }
  } catch (err) {
    if (err instanceof WireError) throw new LayoutError('lease bucket: a value is not a leasepb.Lease', { cause: err });
    throw err;
  }
  return out;
}

/** etcd's membership JSON, as Go's encoding/json writes etcd's Member struct (field order, omitempty). */
function memberJson(id: bigint, peerURLs: readonly string[], isLearner: boolean, name: string, clientURLs: readonly string[]): string {
  let s = `{"id":${BigInt.asUintN(64, id).toString()},"peerURLs":${goJson(peerURLs)}`;
  if (isLearner) s += ',"isLearner":true';
  if (name !== '') s += `,"name":${goJson(name)}`;
  if (clientURLs.length > 0) s += `,"clientURLs":${goJson(clientURLs)}`;
  return `${s}}`;
}

/** JSON as Go writes it: like JSON.stringify, plus HTML-safe escapes of <, > and &, and of U+2028/U+2029. */
function goJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** etcd's 17-byte revision. */
export function etcdRevision(main: bigint, sub: bigint): Buffer {
  const b = Buffer.alloc(17);
  b.writeBigInt64BE(main, 0);
  b[8] = 0x5f;
  b.writeBigInt64BE(sub, 9);
  return b;
}

function revisionMain(b: Buffer, what: string): bigint {
  if (b.length < 8) throw new LayoutError(`meta/${what} of ${b.length} bytes`);
  return b.readBigInt64BE(0);
}

function u64be(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
}

function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  b[b.length - 1]! += 1;
  return b;
}

function decodeOr<T>(fn: () => T, message: string): T {
  try {
    return fn();
  } catch (err) {
    throw new LayoutError(message, { cause: err });
  }
}
