import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Backend, Table } from '../backend/backend.js';
import { LmdbBackend } from '../backend/lmdb-backend.js';
import { KVStore } from '../mvcc/store.js';
import { computeClusterId, computeMemberId, Membership } from '../node/membership.js';
import { openWal } from '../wal/wal.js';
import { BoltReader } from './bbolt-reader.js';
import { readEtcdLayout } from './etcd-layout.js';
import { CorruptSnapshotError, HashMismatchError, MissingHashError, RestoreConfigError } from './errors.js';

export interface RestoreOptions {
  /** A file from `etcdctl snapshot save` (latchkey's or etcd's), or with `skipHashCheck` an etcd `member/snap/db`. */
  snapshotPath: string;
  /** The data directory to create; it must not exist. */
  dataDir: string;
  /** This member's name (`--name`). */
  name: string;
  /** The new cluster: `"m1=http://10.0.0.1:2380,m2=…"` or name → peer URLs. */
  initialCluster: string | ReadonlyMap<string, readonly string[]>;
  /** Default `etcd-cluster`, as the server's flag. Member and cluster ids derive from it and the peer URLs. */
  initialClusterToken?: string;
  /** This member's peer URLs; if given, they must be the ones `initialCluster` names for `name`. */
  initialAdvertisePeerUrls?: readonly string[];
  /** Accept a file without the SHA-256 trailer, and do not verify one that has it. */
  skipHashCheck?: boolean;
}

export interface RestoreResult {
  dataDir: string;
  memberId: bigint;
  clusterId: bigint;
  /** The store revision the restored member serves (newest record, or the compaction point if higher). */
  revision: bigint;
  /** Compaction point (0n: never compacted). */
  compactRevision: bigint;
  keys: number;
  leases: number;
  users: number;
  roles: number;
}

const SHA256_SIZE = 32;

/** etcd's rule for "the file ends with a SHA-256 of the rest": its size is 32 more than a multiple of 512. */
export function hasHashTrailer(size: number): boolean {
  return size % 512 === SHA256_SIZE;
}

/**
 * Verifies a snapshot file's trailer (throws HashMismatchError or MissingHashError) and returns the size of the
 * database part.
 */
export async function verifySnapshotHash(path: string, skipHashCheck = false): Promise<number> {
  const { size } = await stat(path);
  if (!hasHashTrailer(size)) {
    if (!skipHashCheck) throw new MissingHashError(size);
    return size;
  }
  const dbSize = size - SHA256_SIZE;
  if (skipHashCheck) return dbSize;
  const h = createHash('sha256');
  if (dbSize > 0) for await (const chunk of createReadStream(path, { start: 0, end: dbSize - 1 })) h.update(chunk as Buffer);
  const fh = await open(path, 'r');
  const trailer = Buffer.alloc(SHA256_SIZE);
  try {
    await fh.read(trailer, 0, SHA256_SIZE, dbSize);
  } finally {
    await fh.close();
  }
  const actual = h.digest();
  if (!actual.equals(trailer)) throw new HashMismatchError(trailer.toString('hex'), actual.toString('hex'));
  return dbSize;
}

/**
 * Creates a latchkey data directory from an etcd-format snapshot, like `etcdctl snapshot restore`: the keys with
 * their revisions and history, the compaction point, leases, users, roles and alarms come from the snapshot; the
 * membership is the new cluster's. The directory is then already a bootstrapped member of that cluster, exactly
 * as server.ts bootstraps a new one (backend: members, cluster id, applied index 1; WAL: snapshot mark at index 1
 * and hard state term 1, commit 1), so `latchkey --data-dir <dir> --name <name> …` starts serving the data; as
 * with etcd, a restored member's --initial-cluster flags no longer matter.
 *
 * Nothing is left behind on failure: the directory is built beside `dataDir` and renamed into place last.
 */
export async function restoreSnapshot(opts: RestoreOptions): Promise<RestoreResult> {
  const cluster = parseCluster(opts.initialCluster);
  const mine = cluster.get(opts.name);
  if (!mine) throw new RestoreConfigError(`couldn't find local name "${opts.name}" in the initial cluster configuration`);
  if (opts.initialAdvertisePeerUrls && !sameUrls(opts.initialAdvertisePeerUrls, mine)) {
    throw new RestoreConfigError(`--initial-cluster has ${opts.name}=${mine.join(',')} but missing from --initial-advertise-peer-urls=${opts.initialAdvertisePeerUrls.join(',')}`);
  }
  if (existsSync(opts.dataDir)) throw new RestoreConfigError(`data-dir "${opts.dataDir}" exists`);
  await verifySnapshotHash(opts.snapshotPath, opts.skipHashCheck ?? false);

  using reader = BoltReader.open(opts.snapshotPath);
  const problems = reader.check();
  if (problems.length > 0) throw new CorruptSnapshotError(`${problems.length} problem(s): ${problems.slice(0, 5).join('; ')}`, problems);

  const token = opts.initialClusterToken ?? 'etcd-cluster';
  const members = [...cluster].map(([name, urls]) => ({ name, urls, id: computeMemberId(urls, token) }));
  const memberId = members.find((m) => m.name === opts.name)!.id;
  const clusterId = computeClusterId(members.map((m) => m.id));
  const voters = members.map((m) => m.id).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  await mkdir(dirname(opts.dataDir), { recursive: true });
  const tmp = join(dirname(opts.dataDir), `.${basename(opts.dataDir)}.restoring-${process.pid}-${Date.now().toString(36)}`);
  const memberDir = join(tmp, 'member');
  let backend: LmdbBackend | undefined;
  try {
    await mkdir(join(memberDir, 'db'), { recursive: true });
    backend = new LmdbBackend(join(memberDir, 'db'));
    const imported = readEtcdLayout(reader, backend);
    let revision = imported.revision > imported.compactRevision ? imported.revision : imported.compactRevision;
    if (imported.pendingCompaction > 0n) {
      // etcd resumes a compaction that was scheduled but not finished when the snapshot was taken; so do we.
      const store = new KVStore(backend, { attach: () => undefined, detach: () => undefined });
      const rev = imported.pendingCompaction < store.currentRev ? imported.pendingCompaction : store.currentRev;
      if (rev > store.compactRev) backend.batch(() => store.compact(rev));
      revision = store.currentRev;
    }
    bootstrapBackend(backend, members, clusterId);
    await backend.sync();
    await backend.close();
    backend = undefined;

    const { wal } = openWal(join(memberDir, 'wal'), memberId);
    try {
      await wal.saveSnapshot({ index: 1, term: 1, voters, learners: [] });
      await wal.save({ term: 1, vote: 0n, commit: 1 }, [], true);
    } finally {
      await wal.close();
    }
    await rename(tmp, opts.dataDir);
    return { dataDir: opts.dataDir, memberId, clusterId, revision, compactRevision: imported.compactRevision, keys: imported.keys, leases: imported.leases, users: imported.users, roles: imported.roles };
  } catch (err) {
    if (backend) await backend.close().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The backend half of a new cluster's bootstrap, as server.ts writes it: the members, the cluster id and the
 * applied index 1 (term 1). The keys are those of apply/applier.ts (`clusterId`, `consistentIndex`).
 */
function bootstrapBackend(backend: Backend, members: { name: string; urls: string[]; id: bigint }[], clusterId: bigint): void {
  const membership = new Membership(backend);
  backend.batch(() => {
    for (const m of members) membership.put({ id: m.id, name: m.name, peerURLs: m.urls, clientURLs: [], isLearner: false });
    const cid = Buffer.alloc(8);
    cid.writeBigUInt64BE(clusterId);
    backend.put(Table.Meta, Buffer.from('clusterId'), cid);
    const applied = Buffer.alloc(16);
    applied.writeBigUInt64BE(1n, 0);
    applied.writeBigUInt64BE(1n, 8);
    backend.put(Table.Meta, Buffer.from('consistentIndex'), applied);
  });
}

function parseCluster(spec: string | ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (typeof spec !== 'string') {
    for (const [n, urls] of spec) out.set(n, urls.map((u) => u.replace(/\/$/, '')));
    return out;
  }
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new RestoreConfigError(`--initial-cluster: expected name=URL, got "${part}"`);
    const url = part.slice(eq + 1).replace(/\/$/, '');
    try {
      new URL(url);
    } catch {
      throw new RestoreConfigError(`--initial-cluster: invalid URL "${url}"`);
    }
    const name = part.slice(0, eq);
    out.set(name, [...(out.get(name) ?? []), url]);
  }
  return out;
}

function sameUrls(a: readonly string[], b: readonly string[]): boolean {
  const norm = (l: readonly string[]): string => [...l].map((u) => u.replace(/\/$/, '')).sort().join(',');
  return norm(a) === norm(b);
}
