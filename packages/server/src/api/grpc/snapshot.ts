import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Init, SnapshotRequest, SnapshotResponse } from '@latchkey/proto';
import type { EtcdServer } from '../../node/etcd-server.js';
import { writeEtcdSnapshot } from '../../snap/export.js';
import { ETCD_CLUSTER_VERSION } from '../../version.js';
import { header } from '../header.js';
import type { ServerCall } from './h2-server.js';

/** etcd's snapshotSendBufferSize. */
const CHUNK = 32 * 1024;

/**
 * Maintenance.Snapshot, as etcd sends it: the backend as of one read transaction, converted to etcd's own backend
 * format (a bbolt database, snap/etcd-layout.ts) so that `etcdctl snapshot status/restore` and etcd accept it,
 * streamed in 32 KiB chunks whose `remaining_bytes` counts the database bytes still to come (0 on the last
 * chunk), then one more message carrying the SHA-256 of the database (remaining_bytes 0). The response header
 * rides on the first message. (Peer snapshots between members stay LMDB copies: see server.ts.)
 */
export function snapshotHandler(s: EtcdServer, scratchDir: string): (call: ServerCall) => void {
  return (c) => {
    const call = c as ServerCall<SnapshotRequest, SnapshotResponse>;
    try {
      s.auth.requireAdmin(s.auth.identify(call.metadata));
    } catch (err) {
      call.fail(err);
      return;
    }
    let cancelled = false;
    call.on('cancelled', () => {
      cancelled = true;
    });
    void (async () => {
      const path = join(scratchDir, `snapshot-${process.pid}-${Date.now()}-${Math.random().toString(16).slice(2)}.db`);
      try {
        const total = await writeEtcdSnapshot(s.backend, path, { clusterVersion: ETCD_CLUSTER_VERSION });
        const fh = await fsp.open(path, 'r');
        try {
          const hash = createHash('sha256');
          let sent = 0;
          let first = true;
          const send = async (msg: Init<SnapshotResponse>): Promise<void> => {
            if (first) msg.header = header(s);
            first = false;
            if (!call.write(msg)) await new Promise<void>((r) => call.once('drain', () => r()));
          };
          while (sent < total && !cancelled) {
            const blob = Buffer.allocUnsafe(Math.min(CHUNK, total - sent));
            const { bytesRead } = await fh.read(blob, 0, blob.length, sent);
            if (bytesRead !== blob.length) throw new Error(`snapshot: short read of the snapshot file at byte ${sent}`);
            hash.update(blob);
            sent += blob.length;
            await send({ remainingBytes: BigInt(total - sent), blob });
          }
          if (!cancelled) await send({ remainingBytes: 0n, blob: hash.digest() });
        } finally {
          await fh.close();
        }
        call.end();
      } catch (err) {
        call.fail(err);
      } finally {
        await fsp.rm(path, { force: true });
      }
    })();
  };
}
