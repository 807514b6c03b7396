import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlarmType, KeyValue, Permission_Type } from '@latchkey/proto';
import { afterAll, describe, expect, test } from 'vitest';
import { AlarmStore } from '../apply/alarms.js';
import { AuthStore } from '../auth/store.js';
import { type Backend, Table } from '../backend/backend.js';
import { LmdbBackend } from '../backend/lmdb-backend.js';
import { MemoryBackend } from '../backend/memory-backend.js';
import { Lessor } from '../lease/lessor.js';
import { KVStore } from '../mvcc/store.js';
import { Membership } from '../node/membership.js';
import { BoltReader } from './bbolt-reader.js';
import { BoltWriter } from './bbolt-writer.js';
import { BUCKETS, decodeLease, etcdRevision, readEtcdLayout, writeEtcdLayout } from './etcd-layout.js';
import { CorruptSnapshotError, HashMismatchError, LayoutError, MissingHashError, NotBoltFileError, RestoreConfigError } from './errors.js';
import { writeEtcdSnapshot } from './export.js';
import { restoreSnapshot } from './restore.js';
import { snapshotStatus } from './status.js';

const dir = mkdtempSync(join(tmpdir(), 'latchkey-layout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const tmp = (name: string): string => join(dir, `${seq++}-${name}`);
const b = (s: string): Buffer => Buffer.from(s);

/** A backend with every kind of state: history, a deletion, a compaction, a lease, auth, an alarm, members. */
function populated(): MemoryBackend {
  const backend = new MemoryBackend();
  const clock = { now: () => 0 };
  const lessor = new Lessor(backend, clock, 5n, () => () => undefined);
  const store = new KVStore(backend, lessor);
  const write = (fn: (t: ReturnType<KVStore['write']>) => void): void =>
    backend.batch(() => {
      const t = store.write();
      fn(t);
      t.end();
    });
  backend.batch(() => lessor.grant(0x1234n, 60n));
  write((t) => t.put(b('a'), b('1'), 0n));
  write((t) => t.put(b('b'), b('2'), 0n));
  write((t) => t.put(b('a'), b('3'), 0n));
  write((t) => t.put(b('c'), b('4'), 0x1234n));
  write((t) => t.deleteRange(b('b'), new Uint8Array(0)));
  backend.batch(() => store.compact(3n));
  write((t) => {
    t.put(b('d'), Buffer.alloc(9000, 1), 0n);
    t.put(b('e'), b('5'), 0n);
  });
  backend.batch(() => lessor.checkpoint(0x1234n, 42n));
  const auth = new AuthStore(backend);
  backend.batch(() => {
    auth.userAdd('root', 'hash-r', false);
    auth.roleAdd('reader');
    auth.roleGrantPermission('reader', { permType: Permission_Type.READ, key: b('a'), rangeEnd: b('z') });
    auth.userAdd('bob', 'hash-b', false);
    auth.userGrantRole('bob', 'reader');
  });
  const alarms = new AlarmStore(backend);
  backend.batch(() => alarms.activate(0xabcn, AlarmType.NOSPACE));
  const members = new Membership(backend);
  backend.batch(() => {
    members.put({ id: 0xecn, name: 'm<1>', peerURLs: ['http://127.0.0.1:2380'], clientURLs: ['http://127.0.0.1:2379'], isLearner: false });
    members.put({ id: 0x1fn, name: '', peerURLs: ['http://127.0.0.1:2381'], clientURLs: [], isLearner: true });
    members.remove(0x77n);
    backend.put(Table.Meta, b('consistentIndex'), Buffer.from('00000000000000290000000000000002', 'hex'));
  });
  return backend;
}

function dump(backend: Backend, table: Table): [string, string][] {
  const out: [string, string][] = [];
  backend.scan(table, undefined, undefined, (k, v) => {
    out.push([k.toString('hex'), v.toString('hex')]);
  });
  return out;
}

async function exportTo(backend: Backend, path: string): Promise<void> {
  const fh = await open(path, 'w+');
  const w = new BoltWriter(fh);
  const view = backend.readView();
  await writeEtcdLayout(view, w, { clusterVersion: '3.5.0' });
  view.close();
  await w.finish();
  await fh.close();
}

function withTrailer(path: string): void {
  appendFileSync(path, createHash('sha256').update(readFileSync(path)).digest());
}

describe('etcd layout', () => {
  test("etcd layout - our tables become etcd's buckets, keys and values", async () => {
    const path = tmp('layout.db');
    await exportTo(populated(), path);
    using r = BoltReader.open(path);
    expect(r.check()).toEqual([]);
    const root = r.root();
    expect([...root.entries()].map((e) => e.key.toString())).toEqual(Object.values(BUCKETS));
    const bucket = (name: string) => [...root.bucket(b(name))!.entries()].map((e) => [e.key, e.value] as const);
    const keys = bucket('key');
    // Revisions 2..7 (7 holds two changes); the compaction at 3 dropped nothing (each key's newest <= 3 stays).
    expect(keys.map(([k]) => k.toString('hex'))).toEqual([
      etcdRevision(2n, 0n).toString('hex'),
      etcdRevision(3n, 0n).toString('hex'),
      etcdRevision(4n, 0n).toString('hex'),
      etcdRevision(5n, 0n).toString('hex'),
      etcdRevision(6n, 0n).toString('hex') + '74',
      etcdRevision(7n, 0n).toString('hex'),
      etcdRevision(7n, 1n).toString('hex'),
    ]);
    // A deletion record holds only the key, as etcd's does.
    expect(keys[4]![1]).toEqual(KeyValue.encode({ key: b('b') }));
    expect(KeyValue.decode(keys[3]![1])).toMatchObject({ key: b('c'), createRevision: 5n, modRevision: 5n, version: 1n, lease: 0x1234n });
    expect(bucket('lease').map(([k, v]) => [k.toString('hex'), decodeLease(v)])).toEqual([['0000000000001234', { id: 0x1234n, ttl: 60n, remainingTTL: 42n }]]);
    expect(bucket('meta').map(([k, v]) => [k.toString(), v.toString('hex')])).toEqual([
      ['consistent_index', '0000000000000029'],
      ['finishedCompactRev', etcdRevision(3n, 0n).toString('hex')],
      ['scheduledCompactRev', etcdRevision(3n, 0n).toString('hex')],
    ]);
    // etcd counts auth changes from 1: five changes make revision 6.
    expect(bucket('auth').map(([k, v]) => [k.toString(), v.toString('hex')])).toEqual([['authRevision', '0000000000000006']]);
    expect(bucket('authUsers').map(([k]) => k.toString())).toEqual(['bob', 'root']);
    expect(bucket('authRoles').map(([k]) => k.toString())).toEqual(['reader']);
    expect(bucket('cluster').map(([k, v]) => [k.toString(), v.toString()])).toEqual([['clusterVersion', '3.5.0']]);
    // Member ids in hex, sorted as strings; Go's JSON (HTML-safe escapes, omitempty fields).
    expect(bucket('members').map(([k, v]) => [k.toString(), v.toString()])).toEqual([
      ['1f', '{"id":31,"peerURLs":["http://127.0.0.1:2381"],"isLearner":true}'],
      ['ec', '{"id":236,"peerURLs":["http://127.0.0.1:2380"],"name":"m\\u003c1\\u003e","clientURLs":["http://127.0.0.1:2379"]}'],
    ]);
    expect(bucket('members_removed').map(([k, v]) => [k.toString(), v.toString()])).toEqual([['77', 'removed']]);
    expect(bucket('alarm').map(([k, v]) => [k.toString('hex'), v.length])).toEqual([['08bc151001', 0]]);
  });

  test('etcd layout - export then import gives back the key, lease and auth tables byte for byte', async () => {
    const path = tmp('roundtrip.db');
    const original = populated();
    await exportTo(original, path);
    using r = BoltReader.open(path);
    const restored = new MemoryBackend();
    const result = readEtcdLayout(r, restored);
    expect(result).toEqual({ revision: 7n, compactRevision: 3n, pendingCompaction: 0n, keys: 7, leases: 1, users: 2, roles: 1 });
    for (const t of [Table.Key, Table.Lease, Table.Auth]) expect(dump(restored, t), t).toEqual(dump(original, t));
    // Of the meta table, the compaction point and the alarms carry over; the old cluster's identity does not.
    const meta = Object.fromEntries(dump(restored, Table.Meta).map(([k, v]) => [Buffer.from(k, 'hex').toString(), v]));
    expect(meta).toEqual({ compactRev: '0000000000000003', alarms: '0000000000000abc00000001' });
    expect(dump(restored, Table.Members)).toEqual([]);
  });

  test('etcd layout - a key table bigger than one conversion chunk streams through in order, none lost or repeated', async () => {
    const backend = new MemoryBackend();
    const store = new KVStore(backend, { attach() {}, detach() {} });
    backend.batch(() => {
      for (let i = 0; i < 10_000; i++) {
        const t = store.write();
        t.put(b(`k${i % 3000}`), Buffer.alloc(i % 97, i % 251), 0n);
        t.end();
      }
    });
    const path = tmp('many.db');
    await exportTo(backend, path);
    using r = BoltReader.open(path);
    expect(r.check()).toEqual([]);
    const restored = new MemoryBackend();
    expect(readEtcdLayout(r, restored)).toMatchObject({ keys: 10_000, revision: 10_001n });
    expect(dump(restored, Table.Key)).toEqual(dump(backend, Table.Key));
  });

  test('etcd layout - records that are not etcd\'s are refused', async () => {
    const path = tmp('bad.db');
    const fh = await open(path, 'w+');
    const w = new BoltWriter(fh);
    w.bucket(b('key'));
    w.put(b('not-a-revision'), b('x'));
    w.end();
    await w.finish();
    await fh.close();
    using r = BoltReader.open(path);
    expect(() => readEtcdLayout(r, new MemoryBackend())).toThrow(LayoutError);
  });

  test('etcd layout - a read view does not see batches committed after it was taken', () => {
    for (const backend of [new MemoryBackend(), new LmdbBackend(tmp('lmdb'))]) {
      backend.batch(() => backend.put(Table.Key, b('k1'), b('v1')));
      const view = backend.readView();
      backend.batch(() => {
        backend.put(Table.Key, b('k2'), b('v2'));
        backend.put(Table.Key, b('k1'), b('changed'));
      });
      const seen: string[] = [];
      view.scan(Table.Key, undefined, undefined, (k, v) => {
        seen.push(`${k}=${v}`);
      });
      expect(seen).toEqual(['k1=v1']);
      expect(view.get(Table.Key, b('k2'))).toBeUndefined();
      view.close();
      void backend.close();
    }
  });
});

describe('restore', () => {
  const opts = (snapshotPath: string, dataDir: string) => ({ snapshotPath, dataDir, name: 'm1', initialCluster: 'm1=http://127.0.0.1:2380' });

  test('restore - a snapshot becomes a bootstrapped data dir with the same tables', async () => {
    const original = populated();
    const path = tmp('snap.db');
    await exportTo(original, path);
    withTrailer(path);
    const dataDir = tmp('restored');
    const r = await restoreSnapshot(opts(path, dataDir));
    expect(r).toMatchObject({ revision: 7n, compactRevision: 3n, keys: 7, leases: 1, users: 2, roles: 1 });
    expect(existsSync(join(dataDir, 'member', 'wal'))).toBe(true);
    const backend = new LmdbBackend(join(dataDir, 'member', 'db'));
    for (const t of [Table.Key, Table.Lease, Table.Auth]) expect(dump(backend, t), t).toEqual(dump(original, t));
    const members = new Membership(backend).list();
    expect(members.map((m) => [m.id, m.name, m.peerURLs])).toEqual([[r.memberId, 'm1', ['http://127.0.0.1:2380']]]);
    await backend.close();
    // The data dir exists now: a second restore into it is refused.
    await expect(restoreSnapshot(opts(path, dataDir))).rejects.toThrow(RestoreConfigError);
  });

  test('restore - a compaction etcd scheduled but did not finish is finished', async () => {
    const path = tmp('pending.db');
    const fh = await open(path, 'w+');
    const w = new BoltWriter(fh);
    w.bucket(b('key'));
    w.put(etcdRevision(2n, 0n), KeyValue.encode({ key: b('a'), createRevision: 2n, modRevision: 2n, version: 1n, value: b('1') }));
    w.put(etcdRevision(3n, 0n), KeyValue.encode({ key: b('a'), createRevision: 2n, modRevision: 3n, version: 2n, value: b('2') }));
    w.put(etcdRevision(4n, 0n), KeyValue.encode({ key: b('a'), createRevision: 2n, modRevision: 4n, version: 3n, value: b('3') }));
    w.end();
    w.bucket(b('meta'));
    w.put(b('finishedCompactRev'), etcdRevision(2n, 0n));
    w.put(b('scheduledCompactRev'), etcdRevision(3n, 0n));
    w.end();
    await w.finish();
    await fh.close();
    const dataDir = tmp('pending-restored');
    const r = await restoreSnapshot({ ...opts(path, dataDir), skipHashCheck: true });
    expect(r.compactRevision).toBe(2n);
    const backend = new LmdbBackend(join(dataDir, 'member', 'db'));
    const store = new KVStore(backend, { attach() {}, detach() {} });
    expect(store.compactRev).toBe(3n);
    // Revision 2 (older than the newest <= 3) is gone.
    expect(dump(backend, Table.Key).map(([k]) => k.slice(0, 16))).toEqual(['0000000000000003', '0000000000000004']);
    await backend.close();
  });

  test('restore - bad files are refused and leave no data dir behind', async () => {
    const good = tmp('good.db');
    await writeEtcdSnapshot(populated(), good, { clusterVersion: '3.5.0' });
    withTrailer(good);
    const bytes = readFileSync(good);
    const cases: [string, Buffer, object, new (...a: never[]) => Error][] = [
      ['truncated', bytes.subarray(0, bytes.length - 1000), {}, MissingHashError],
      ['one byte changed', Buffer.concat([Buffer.from([bytes[0]! ^ 1]), bytes.subarray(1)]), {}, HashMismatchError],
      ['no trailer', bytes.subarray(0, bytes.length - 32), {}, MissingHashError],
      ['not bbolt', (() => {
        const junk = Buffer.alloc(8192, 0x5a);
        return Buffer.concat([junk, createHash('sha256').update(junk).digest()]);
      })(), {}, NotBoltFileError],
      ['corrupt page, hash skipped', (() => {
        const c = Buffer.from(bytes.subarray(0, bytes.length - 32));
        c.writeBigUInt64LE(12345n, 2 * 4096); // page 2's id
        return c;
      })(), { skipHashCheck: true }, CorruptSnapshotError],
    ];
    for (const [name, content, extra, error] of cases) {
      const path = tmp(`${name.replace(/ /g, '-')}.db`);
      writeFileSync(path, content);
      const dataDir = tmp(`${name.replace(/ /g, '-')}-dir`);
      await expect(restoreSnapshot({ ...opts(path, dataDir), ...extra }), name).rejects.toThrow(error);
      expect(existsSync(dataDir), name).toBe(false);
    }
    // None of the attempts left a temporary directory either.
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dir).filter((f) => f.includes('.restoring-'))).toEqual([]);
  });

  test('restore - the member must be in the initial cluster, with its advertised peer URLs', async () => {
    const path = tmp('cfg.db');
    await writeEtcdSnapshot(populated(), path, { clusterVersion: '3.5.0' });
    withTrailer(path);
    await expect(restoreSnapshot({ ...opts(path, tmp('x')), name: 'other' })).rejects.toThrow(/couldn't find local name "other"/);
    await expect(restoreSnapshot({ ...opts(path, tmp('y')), initialAdvertisePeerUrls: ['http://127.0.0.1:9999'] })).rejects.toThrow(/missing from --initial-advertise-peer-urls/);
  });

  test('status - counts and hashes the buckets like etcdctl', async () => {
    const path = tmp('status.db');
    await writeEtcdSnapshot(populated(), path, { clusterVersion: '3.5.0' });
    const st = await snapshotStatus(path);
    // alarm 1 + auth 1 + authRoles 1 + authUsers 2 + cluster 1 + key 7 + lease 1 + members 2 + removed 1 + meta 3
    expect(st).toMatchObject({ revision: 7n, totalKey: 20, totalSize: readFileSync(path).length });
    expect(await snapshotStatus(path)).toEqual(st);
    const other = tmp('status2.db');
    const changed = populated();
    changed.batch(() => changed.put(Table.Lease, Buffer.from('0000000000005678', 'hex'), Buffer.alloc(16)));
    await writeEtcdSnapshot(changed, other, { clusterVersion: '3.5.0' });
    expect((await snapshotStatus(other)).hash).not.toBe(st.hash);
  });
});
