/**
 * A deliberately tiny etcd KV client for tests: unary Put and Range over `@grpc/grpc-js`, with the message
 * codecs from `@latchkey/proto`. It adds nothing (no retries, no balancing) so that tests see exactly what the
 * server answered; it works against latchkey and a real etcd alike.
 *
 * ```ts
 * const kv = new KvClient('127.0.0.1:2379');
 * const put = await kv.put({ key: utf8('k'), value: utf8('v') }, { timeoutMs: 2000 });   // put.header?.revision
 * const range = await kv.range({ key: utf8('k') });                                    // range.kvs[0]?.value
 * kv.close();
 * ```
 *
 * Errors reject with grpc-js `ServiceError`s (`code`, `details`). The channel reconnects quickly (50–250 ms
 * backoff) after the server goes away, so the same client keeps working across server restarts.
 */
import * as grpc from '@grpc/grpc-js';
import { type Init, PutRequest, PutResponse, RangeRequest, RangeResponse } from '@latchkey/proto';

export interface CallOptions {
  /** Deadline for the call (default 5 s). */
  timeoutMs?: number;
  /** Cancels the call. */
  signal?: AbortSignal;
}

export const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
export const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');

/** The range end that selects every key with this prefix ("foo" → "fop"), as etcdctl's --prefix computes it. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Uint8Array.of(0); // every byte is 0xff: "from key"
}

export class KvClient {
  private readonly client: grpc.Client;

  constructor(readonly endpoint: string) {
    this.client = new grpc.Client(endpoint, grpc.credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': 50,
      'grpc.min_reconnect_backoff_ms': 50,
      'grpc.max_reconnect_backoff_ms': 250,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.enable_retries': 0,
    });
  }

  put(req: Init<PutRequest>, options?: CallOptions): Promise<PutResponse> {
    return this.unary('/etcdserverpb.KV/Put', PutRequest.encode(req), PutResponse.decode, options);
  }

  range(req: Init<RangeRequest>, options?: CallOptions): Promise<RangeResponse> {
    return this.unary('/etcdserverpb.KV/Range', RangeRequest.encode(req), RangeResponse.decode, options);
  }

  close(): void {
    this.client.close();
  }

  private unary<T>(path: string, request: Buffer, decode: (b: Uint8Array) => T, options: CallOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const deadline = new Date(Date.now() + (options.timeoutMs ?? 5_000));
      const call = this.client.makeUnaryRequest<Buffer, T>(
        path,
        (b: Buffer) => b,
        (b: Buffer) => decode(b),
        request,
        new grpc.Metadata(),
        { deadline },
        (err, response) => {
          options.signal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(response!);
        },
      );
      const onAbort = (): void => call.cancel();
      if (options.signal?.aborted) call.cancel();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
