import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Init, SnapshotRequest, SnapshotResponse } from '@latchkey/proto';
import type { EtcdServer } from '../../node/etcd-server.js';
import { header } from '../header.js';
import type { ServerCall } from './h2-server.js';

const CHUNK = 32 * 1024;

/**
 * Maintenance.Snapshot: streams a consistent copy of the backend (an LMDB environment copy taken under one read
 * transaction), in 32 KiB chunks with `remaining_bytes`, followed — as etcd does — by the SHA-256 of the data in
 * the last 32 bytes of the stream, so a receiver can check what it got.
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
        await s.backend.copyTo(path);
        const data = await fsp.readFile(path);
        const digest = createHash('sha256').update(data).digest();
        const total = data.length + digest.length;
        let sent = 0;
        const all = Buffer.concat([data, digest]);
        let first = true;
        while (sent < total && !cancelled) {
          const blob = all.subarray(sent, Math.min(sent + CHUNK, total));
          sent += blob.length;
          const msg: Init<SnapshotResponse> = { remainingBytes: BigInt(total - sent), blob };
          if (first) msg.header = header(s);
          first = false;
          if (!call.write(msg)) await new Promise<void>((r) => call.once('drain', () => r()));
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
