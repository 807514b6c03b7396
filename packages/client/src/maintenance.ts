/**
 * Maintenance calls that stream: `snapshot()` reads `Maintenance.Snapshot`, the member's backend as a sequence of
 * chunks (etcd appends a SHA-256 of the data as the last 32 bytes). The stream goes to one endpoint — the one the
 * client is using — and is not retried: a broken snapshot stream rejects, and the caller starts over.
 */
import { MaintenanceService, SnapshotRequest, type SnapshotResponse } from '@latchkey/proto';
import type { Client } from './client.js';
import { abortErrorFor, type CallOptions } from './connection.js';
import { fromGrpcError } from './errors.js';

export interface SnapshotChunk {
  /** The next bytes of the snapshot. */
  blob: Uint8Array;
  /** Bytes the server still has to send after this chunk. */
  remainingBytes: bigint;
}

/**
 * The snapshot of the endpoint `client` talks to, chunk by chunk. `timeoutMs` bounds the whole transfer (none by
 * default, as etcdctl without `--command-timeout`); `signal` cancels it. Errors are the client's typed errors.
 */
export async function* snapshot(client: Client, options: CallOptions = {}): AsyncGenerator<SnapshotChunk, void, undefined> {
  const conn = client.conn;
  const signals = [conn.closedSignal];
  if (options.signal) signals.push(options.signal);
  if (options.timeoutMs !== undefined) signals.push(AbortSignal.timeout(options.timeoutMs));
  const signal = AbortSignal.any(signals);
  const readyBy = options.timeoutMs === undefined ? Date.now() + 30_000 : Date.now() + options.timeoutMs;
  const { client: grpcClient, metadata } = await conn.streamClient(readyBy, signal);
  const call = grpcClient.makeServerStreamRequest<Buffer, SnapshotResponse>(
    MaintenanceService.Snapshot.path,
    (b: Buffer) => b,
    (b: Buffer) => MaintenanceService.Snapshot.responseType.decode(b) as SnapshotResponse,
    SnapshotRequest.encode({}),
    metadata,
  );
  const onAbort = (): void => call.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const msg of call) {
      yield { blob: msg.blob, remainingBytes: msg.remainingBytes };
    }
  } catch (err) {
    if (signal.aborted) throw abortErrorFor(signal);
    throw fromGrpcError(err);
  } finally {
    signal.removeEventListener('abort', onAbort);
    call.cancel();
  }
}
