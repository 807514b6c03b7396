import { EtcdError, GO_CODE_NAMES, WatchResponse, WatchService, type WatchRequest } from '@latchkey/proto';
import { toWireError } from '../errors.js';
import type { EtcdServer } from '../../node/etcd-server.js';
import type { WatchHub } from '../../watch/hub.js';
import { WatchStream, type WatchSink } from '../../watch/stream.js';
import { header } from '../header.js';
import { STREAM_HIGH_WATER } from './call.js';
import type { ServerCall, ServiceImpl } from './h2-server.js';
import { stage, tracing } from '../../node/stage-trace.js';

/**
 * A refused watch create's `cancel_reason`, as etcd 3.4 writes it: the text of a Go gRPC status error
 * (`rpc error: code = Unauthenticated desc = etcdserver: invalid auth token`). etcd names these three errors;
 * any other refusal reads as permission denied.
 */
const REFUSAL_REASONS = new Set([EtcdError.InvalidAuthToken.message, EtcdError.AuthOldRevision.message, EtcdError.UserEmpty.message]);
function goStatusText(e: { code: number; message: string }): string {
  return `rpc error: code = ${GO_CODE_NAMES[e.code] ?? 'Unknown'} desc = ${e.message}`;
}

/**
 * A stream holding this much unsent output is full: its watchers stop taking events (they queue as victims, or
 * catch up from history later). It is the transports' own high-water mark, so every write that fills a stream
 * has returned false and the stream will emit 'drain' once it has room again: the hub waits for that instead
 * of polling full streams.
 */
const STREAM_BUFFER_BOUND = STREAM_HIGH_WATER;

export function watchService(s: EtcdServer, hub: WatchHub, maxResponseBytes: number, progressIntervalMs: number): ServiceImpl<typeof WatchService> {
  return {
    Watch(call) {
      const stream = call as ServerCall<WatchRequest, WatchResponse>;
      const sink: WatchSink = {
        send: (r) => {
          if (stream.writable) stream.write(r);
        },
        sendEvents: (h, watchId, batch) => {
          if (tracing) stage('watch-events', -1);
          if (!stream.writable) return;
          if (stream.writeRaw) stream.writeRaw([WatchResponse.encode({ header: h, watchId }), batch.encoded()]);
          else stream.write({ header: h, watchId, events: batch.events });
        },
        get full() {
          return stream.writableLength >= STREAM_BUFFER_BOUND;
        },
        onDrain: (fn) => stream.on('drain', fn),
        maxResponseBytes,
      };
      const authorize = (key: Uint8Array, end: Uint8Array): string | undefined => {
        try {
          return s.auth.mayWatch(s.auth.identify(stream.metadata), key, end) ? undefined : goStatusText(EtcdError.PermissionDenied);
        } catch (err) {
          const w = toWireError(err);
          return goStatusText(REFUSAL_REASONS.has(w.message) ? w : EtcdError.PermissionDenied);
        }
      };
      const ws = new WatchStream(hub, s.store, sink, (rev) => header(s, rev), { progressIntervalMs, authorize });
      stream.on('data', (req: WatchRequest) => ws.handle(req));
      // A client that stops sending (half-close) keeps receiving events, as with etcd: the stream lives until the
      // client cancels or disconnects.
      const close = (): void => ws.close();
      stream.on('cancelled', close);
      stream.on('close', close);
    },
  };
}
