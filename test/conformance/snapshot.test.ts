/**
 * Snapshots in etcd's format, against real etcd 3.4 and etcdctl 3.4:
 * - `etcdctl snapshot save` from latchkey gives a file that `etcdctl snapshot status` accepts (bbolt's tx.Check
 *   passes) with the revision and key count etcd's own snapshot of the same script has;
 * - latchkey → etcd: `etcdctl snapshot restore` of it, and a real etcd started on the restored dir serves the same
 *   keys, values and revisions (create/mod/version), compaction point, lease, users and roles, and the users log in
 *   with their passwords (etcd checks latchkey's bcrypt hashes);
 * - etcd → latchkey and latchkey → latchkey: `restoreSnapshot` of a snapshot, and latchkey started on the restored
 *   dir serves the same, logins included;
 * - our `snapshotStatus` computes what etcdctl prints, on both servers' files and on random writer output;
 * - damaged files fail etcdctl's check and ours; truncated or altered ones fail restore without leaving a dir.
 *
 * What cannot match: the hash. It covers every bucket, and `members` (ids from peer URLs), `meta`
 * (consistent_index = the Raft applied index, which counts each server's own internal entries) and granted lease
 * ids differ between any two servers, etcd and etcd included. The `key` bucket is compared record by record
 * instead, with lease ids replaced by their grant order.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyValue } from '@latchkey/proto';
import { BoltReader, BoltWriter, CorruptSnapshotError, HashMismatchError, MissingHashError, restoreSnapshot, snapshotStatus } from '@latchkey/server/snap';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LATCHCTL_BIN } from '../cli/tools.js';
import { etcdctl } from '../harness/etcdctl.js';
import { freePorts } from '../harness/ports.js';
import { Member, type MemberKind } from '../harness/processes.js';
import { useMembers } from '../harness/vitest.js';
import { until } from '../harness/wait.js';

const TOKEN = 'latchkey-test';
const COMPACT_AT = 6;
const BIG = 'x'.repeat(20_000);

const members = useMembers({ scope: 'file' });
const restoredMembers: Member[] = [];
afterAll(async () => {
  await Promise.all(restoredMembers.map((m) => m.dispose()));
});

interface Source {
  member: Member;
  lease: string;
  snapshot: string;
}
const source: Partial<Record<MemberKind, Source>> = {};

async function ok(m: Member, args: string[], stdin?: string): Promise<string> {
  const r = await etcdctl(m.endpoint, args, stdin === undefined ? {} : { stdin });
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} against ${m.kind}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The same writes on either server: history, a txn with two changes, deletes, a compaction, a lease, auth. */
async function script(m: Member): Promise<string> {
  await ok(m, ['put', 'a', '1']);
  await ok(m, ['put', 'b', '2']);
  await ok(m, ['put', 'a', '3']);
  await ok(m, ['txn'], '\nput t1 x\nput t2 y\n\n\n');
  const lease = /lease ([0-9a-f]+) granted/.exec(await ok(m, ['lease', 'grant', '600']))![1]!;
  await ok(m, ['put', 'c', '4', `--lease=${lease}`]);
  await ok(m, ['del', 'b']);
  await ok(m, ['put', 'e', '5']);
  // --physical: etcd answers only once the compaction is done, so its snapshot holds the compacted history.
  await ok(m, ['compact', String(COMPACT_AT), '--physical']);
  await ok(m, ['del', 'e']);
  await ok(m, ['put', 'big', BIG]);
  await ok(m, ['put', 'a', '5']);
  await ok(m, ['user', 'add', 'root:rootpw']);
  await ok(m, ['role', 'add', 'reader']);
  await ok(m, ['role', 'grant-permission', 'reader', 'read', 'a', 'z']);
  await ok(m, ['user', 'add', 'bob:bobpw']);
  await ok(m, ['user', 'grant-role', 'bob', 'reader']);
  return lease;
}

/** What a member serves, for comparing two of them: keys with every revision field, lease, auth. */
async function served(m: Member, leaseHex: string): Promise<unknown> {
  const get = JSON.parse(await ok(m, ['get', '--prefix', '', '-w', 'json'])) as { header: { revision: string | number }; kvs: Record<string, unknown>[] };
  const kvs = get.kvs.map((kv) => ({ ...kv, lease: kv['lease'] === undefined ? undefined : 'the lease' }));
  const atCompaction = await etcdctl(m.endpoint, ['get', 'a', `--rev=${COMPACT_AT}`, '--print-value-only']);
  const belowCompaction = await etcdctl(m.endpoint, ['get', 'a', `--rev=${COMPACT_AT - 1}`]);
  const ttl = await ok(m, ['lease', 'timetolive', leaseHex, '--keys']);
  return {
    revision: String(get.header.revision),
    kvs,
    atCompaction: atCompaction.stdout,
    belowCompaction: belowCompaction.stderr.includes('required revision has been compacted'),
    // "lease … granted with TTL(600s), remaining(…s), attached keys([c])": the remaining time is timing.
    lease: ttl.replace(leaseHex, '<id>').replace(/remaining\(\d+s\)/, 'remaining(…)'),
    users: await ok(m, ['user', 'list']),
    bob: await ok(m, ['user', 'get', 'bob']),
    reader: await ok(m, ['role', 'get', 'reader']),
  };
}

/**
 * Turns auth on (etcdctl adds the root role), then logs in as each user of the script, and as bob with a wrong
 * password: the users' password hashes came through the snapshot, so this checks that the restored server verifies
 * hashes the other server wrote.
 */
async function logins(m: Member): Promise<unknown> {
  await ok(m, ['auth', 'enable']);
  const as = async (user: string): Promise<string> => {
    const r = await etcdctl(m.endpoint, ['--user', user, 'get', 'a', '--print-value-only']);
    return r.code === 0 ? r.stdout.trim() : (/^Error: .*$/m.exec(r.stderr)?.[0] ?? r.stderr);
  };
  return { root: await as('root:rootpw'), bob: await as('bob:bobpw'), wrongPassword: await as('bob:nope') };
}

const LOGINS = { root: '5', bob: '5', wrongPassword: 'Error: etcdserver: authentication failed, invalid user ID or password' };

/** A member on a data dir filled by `fill` before its first start (tracked for cleanup). */
async function startRestored(kind: MemberKind, fill: (m: Member) => Promise<void>): Promise<Member> {
  const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
  const m = Member.prepare({ kind, clientPort, peerPort });
  restoredMembers.push(m);
  await fill(m);
  await m.launch();
  return m;
}

function keyBucket(file: string, leaseHex: string): unknown[] {
  using r = BoltReader.open(file);
  const lease = BigInt(`0x${leaseHex}`);
  return [...r.root().bucket(Buffer.from('key'))!.entries()].map((e) => {
    const kv = KeyValue.decode(e.value);
    return { rev: e.key.toString('hex'), ...kv, key: Buffer.from(kv.key).toString(), value: Buffer.from(kv.value).length, lease: kv.lease === lease ? 'the lease' : kv.lease };
  });
}

beforeAll(async () => {
  const [etcd, latchkey] = await Promise.all([members.start({ kind: 'etcd' }), members.start({ kind: 'latchkey' })]);
  await Promise.all(
    [etcd, latchkey].map(async (m) => {
      const lease = await script(m);
      const snapshot = join(m.dir, 'backup.db');
      await ok(m, ['snapshot', 'save', snapshot]);
      source[m.kind] = { member: m, lease, snapshot };
    }),
  );
}, 60_000);

describe('snapshot in etcd format', () => {
  test('snapshot - etcdctl snapshot status accepts latchkey\'s file; revision and total keys equal etcd\'s', async () => {
    const status = async (kind: MemberKind) => {
      const r = await etcdctl(source[kind]!.member.endpoint, ['snapshot', 'status', source[kind]!.snapshot, '-w', 'json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { hash: number; revision: number; totalKey: number; totalSize: number };
    };
    const [etcd, latchkey] = await Promise.all([status('etcd'), status('latchkey')]);
    expect({ revision: latchkey.revision, totalKey: latchkey.totalKey }).toEqual({ revision: etcd.revision, totalKey: etcd.totalKey });
    expect(etcd.revision).toBe(11);
    // Our snapshotStatus prints what etcdctl prints, for either server's file.
    for (const [kind, st] of [['etcd', etcd], ['latchkey', latchkey]] as const) {
      const ours = await snapshotStatus(source[kind]!.snapshot);
      expect({ ...ours, revision: Number(ours.revision) }, kind).toEqual(st);
    }
    // The key buckets hold the same records (the lease id aside), compacted history included.
    expect(keyBucket(source.latchkey!.snapshot, source.latchkey!.lease)).toEqual(keyBucket(source.etcd!.snapshot, source.etcd!.lease));
  });

  test('snapshot - latchkey → etcd: etcdctl snapshot restore, then a real etcd serves the same keys and revisions', async () => {
    const src = source.latchkey!;
    const etcd = await startRestored('etcd', async (m) => {
      const r = await etcdctl(src.member.endpoint, [
        'snapshot', 'restore', src.snapshot,
        '--data-dir', m.dataDir, '--name', m.name,
        '--initial-cluster', `${m.name}=${m.peerUrl}`, '--initial-advertise-peer-urls', m.peerUrl, '--initial-cluster-token', TOKEN,
      ]);
      expect(r.code, r.stderr).toBe(0);
    });
    const want = await served(src.member, src.lease);
    // The script's outcome, so that two empty answers cannot compare equal: five live keys, a readable compaction
    // point and a compacted revision below it, the lease with its key.
    expect(want).toMatchObject({ revision: '11', atCompaction: '3\n', belowCompaction: true, lease: expect.stringContaining('attached keys([c])') });
    expect((want as { kvs: unknown[] }).kvs.map((kv) => (kv as { key: string }).key)).toEqual(['a', 'big', 'c', 't1', 't2'].map((k) => Buffer.from(k).toString('base64')));
    expect(await served(etcd, src.lease)).toEqual(want);
    // The restored etcd goes on from the same revision.
    expect(JSON.parse(await ok(etcd, ['put', 'after', '1', '-w', 'json'])).header.revision).toBe(12);
    // etcd checks the password hashes latchkey wrote.
    expect(await logins(etcd)).toEqual(LOGINS);
  });

  test('snapshot - etcd → latchkey: restoreSnapshot of a real etcd\'s snapshot, then latchkey serves the same', async () => {
    const src = source.etcd!;
    const latchkey = await startRestored('latchkey', async (m) => {
      const r = await restoreSnapshot({ snapshotPath: src.snapshot, dataDir: m.dataDir, name: m.name, initialCluster: `${m.name}=${m.peerUrl}`, initialClusterToken: TOKEN, initialAdvertisePeerUrls: [m.peerUrl] });
      expect(r).toMatchObject({ revision: 11n, compactRevision: BigInt(COMPACT_AT), leases: 1, users: 2, roles: 1 });
    });
    expect(await served(latchkey, src.lease)).toEqual(await served(src.member, src.lease));
    expect(JSON.parse(await ok(latchkey, ['put', 'after', '1', '-w', 'json'])).header.revision).toBe(12);
    // latchkey checks the password hashes etcd wrote.
    expect(await logins(latchkey)).toEqual(LOGINS);
  });

  test('snapshot - etcd → a 3-member latchkey cluster: latchctl snapshot restore per member, as etcd\'s recovery guide does', async () => {
    const src = source.etcd!;
    const ports = await freePorts(6);
    const names = ['r1', 'r2', 'r3'];
    const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
    const cluster = names.map((name, i) => Member.prepare({ kind: 'latchkey', name, clientPort: ports[2 * i]!, peerPort: ports[2 * i + 1]!, initialCluster }));
    restoredMembers.push(...cluster);
    for (const m of cluster) {
      // The flags etcd's disaster-recovery guide gives etcdctl, one run per member.
      const flags = ['--name', m.name, '--initial-cluster', initialCluster, '--initial-cluster-token', TOKEN, '--initial-advertise-peer-urls', m.peerUrl, '--data-dir', m.dataDir];
      const r = spawnSync(process.execPath, [LATCHCTL_BIN, 'snapshot', 'restore', src.snapshot, ...flags], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, r.stderr).toBe(0);
    }
    for (const m of cluster) await m.launch(false);
    await Promise.all(cluster.map((m) => m.waitHealthy(30_000)));
    const list = (await ok(cluster[0]!, ['member', 'list'])).trim().split('\n').map((l) => l.split(', ').slice(2, 4).join(' '));
    expect(list.sort()).toEqual(cluster.map((m) => `${m.name} ${m.peerUrl}`).sort());
    const expected = await served(src.member, src.lease);
    for (const m of cluster) expect(await served(m, src.lease), m.name).toEqual(expected);
    // The restored cluster replicates what comes after the snapshot.
    expect(JSON.parse(await ok(cluster[1]!, ['put', 'after', '1', '-w', 'json'])).header.revision).toBe(12);
    for (const m of cluster) await until(async () => (await ok(m, ['get', 'after', '--print-value-only', '--consistency=s'])).trim() === '1', `${m.name} to apply the write`, 10_000);
  }, 90_000);

  test('snapshot - latchkey → latchkey: restoreSnapshot of latchkey\'s own snapshot', async () => {
    const src = source.latchkey!;
    const latchkey = await startRestored('latchkey', async (m) => {
      await restoreSnapshot({ snapshotPath: src.snapshot, dataDir: m.dataDir, name: m.name, initialCluster: `${m.name}=${m.peerUrl}`, initialClusterToken: TOKEN });
    });
    expect(await served(latchkey, src.lease)).toEqual(await served(src.member, src.lease));
  });

  test('snapshot - truncated or altered files: restore fails with a clear error and leaves no data dir; etcdctl refuses them too', async () => {
    const src = source.latchkey!;
    const bytes = readFileSync(src.snapshot);
    const file = (name: string, content: Buffer): string => {
      const path = join(src.member.dir, name);
      writeFileSync(path, content);
      return path;
    };
    const altered = Buffer.from(bytes);
    altered[2 * 4096 + 100]! ^= 0xff;
    const cases = [
      // An interrupted download: the size no longer says "hash trailer".
      { path: file('cut.db', bytes.subarray(0, bytes.length - 1000)), error: MissingHashError, etcdctl: /snapshot missing hash/ },
      // Cut at a page boundary: the last 32 bytes are taken for the hash, and do not match.
      { path: file('cut-page.db', bytes.subarray(0, bytes.length - 4096)), error: HashMismatchError, etcdctl: /expected sha256/ },
      { path: file('altered.db', altered), error: HashMismatchError, etcdctl: /expected sha256/ },
      // Without the hash check, the structure itself gives the truncation away.
      { path: file('cut-page-skip.db', bytes.subarray(0, bytes.length - 4096)), skipHashCheck: true, error: CorruptSnapshotError, etcdctl: undefined },
    ];
    for (const [i, c] of cases.entries()) {
      const dataDir = join(src.member.dir, `restored-${i}`);
      await expect(restoreSnapshot({ snapshotPath: c.path, dataDir, name: 'm1', initialCluster: 'm1=http://127.0.0.1:2380', skipHashCheck: c.skipHashCheck ?? false }), c.path).rejects.toThrow(c.error);
      expect(existsSync(dataDir), c.path).toBe(false);
      if (!c.etcdctl) continue;
      const r = await etcdctl(src.member.endpoint, ['snapshot', 'restore', c.path, '--data-dir', join(src.member.dir, `etcdctl-${i}`)]);
      expect(r.code, c.path).toBe(1);
      expect(r.stderr, c.path).toMatch(c.etcdctl);
    }
    expect(readdirSync(src.member.dir).filter((f) => f.includes('restoring'))).toEqual([]);
  });
});

describe('bbolt files against bbolt itself', () => {
  test('bbolt - random writer output passes etcdctl snapshot status (bbolt tx.Check) with the same hash and counts as ours; a damaged file fails both', async () => {
    const dir = source.latchkey!.member.dir;
    const name = fc.stringMatching(/^[a-z]{1,8}$/).map((s) => Buffer.from(s));
    const bytes = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max }).map((a) => Buffer.from(a));
    const db = fc.uniqueArray(fc.tuple(name, fc.uniqueArray(fc.tuple(bytes(40), fc.oneof(bytes(80), bytes(9000))), { selector: ([k]) => k.toString('hex'), maxLength: 400 })), {
      selector: ([n]) => n.toString('hex'),
      minLength: 1,
      maxLength: 6,
    });
    const samples = fc.sample(db, { numRuns: 6, seed: 42 });
    const files: string[] = [];
    for (const [i, buckets] of samples.entries()) {
      const file = join(dir, `random-${i}.db`);
      const fh = await open(file, 'w+');
      const w = new BoltWriter(fh, { freePages: i });
      for (const [n, entries] of [...buckets].sort((a, b) => Buffer.compare(a[0], b[0]))) {
        w.bucket(n);
        for (const [k, v] of [...entries].sort((a, b) => Buffer.compare(a[0], b[0]))) w.put(k, v);
        w.end();
      }
      await w.finish();
      await fh.close();
      files.push(file);
    }
    for (const file of files) {
      const r = await etcdctl(source.latchkey!.member.endpoint, ['snapshot', 'status', file, '-w', 'json']);
      expect(r.code, `${file}: ${r.stderr}`).toBe(0);
      const ours = await snapshotStatus(file);
      expect({ ...ours, revision: Number(ours.revision) }).toEqual(JSON.parse(r.stdout));
    }
    // Negative control: list a page in use (the root) as free. bbolt's check and ours both refuse the file.
    const damaged = readFileSync(files[files.length - 1]!);
    const meta = { root: Number(damaged.readBigUInt64LE(16 + 16)), freelist: Number(damaged.readBigUInt64LE(16 + 32)) };
    damaged.writeBigUInt64LE(BigInt(meta.root), meta.freelist * 4096 + 16);
    const file = join(dir, 'damaged.db');
    writeFileSync(file, damaged);
    const r = await etcdctl(source.latchkey!.member.endpoint, ['snapshot', 'status', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/integrity check failed[\s\S]*reachable freed/);
    await expect(snapshotStatus(file)).rejects.toThrow(CorruptSnapshotError);
    await expect(snapshotStatus(file)).rejects.toThrow(/reachable freed/);
    // Sanity: the damaged file differs from what was written only in those 8 bytes.
    expect(createHash('sha256').update(damaged).digest()).not.toEqual(createHash('sha256').update(readFileSync(files[files.length - 1]!)).digest());
  });
});
