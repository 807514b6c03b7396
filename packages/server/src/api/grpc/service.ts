import * as grpc from '@grpc/grpc-js';
import type { Init, MethodDesc, RequestOf, ResponseOf, ServiceDesc } from '@latchkey/proto';
import { toWireError } from '../errors.js';
import type { Logger } from '../../node/etcd-server.js';

/** Per-call context handed to handlers: metadata and a signal that aborts when the client cancels. */
export interface CallContext {
  readonly metadata: grpc.Metadata;
  readonly signal: AbortSignal;
}

export type UnaryHandler<M extends MethodDesc> = (req: RequestOf<M>, ctx: CallContext) => Promise<Init<ResponseOf<M>>>;

/** A bidi or server stream handler gets the raw grpc-js call. */
export type StreamHandler = (call: grpc.ServerDuplexStream<any, any> | grpc.ServerWritableStream<any, any>) => void;

export type ServiceImpl<S extends ServiceDesc> = {
  [K in keyof S]: S[K]['requestStream'] extends true ? StreamHandler : S[K]['responseStream'] extends true ? StreamHandler : UnaryHandler<S[K]>;
};

/** Converts one of our generated service descriptors to the definition grpc-js serves. */
export function grpcDefinition(desc: ServiceDesc): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(desc)) {
    def[name] = {
      path: m.path,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: (v: unknown) => m.requestType.encode(v as never),
      requestDeserialize: (b: Buffer) => m.requestType.decode(b),
      responseSerialize: (v: unknown) => m.responseType.encode(v as never),
      responseDeserialize: (b: Buffer) => m.responseType.decode(b),
      originalName: name,
    };
  }
  return def as grpc.ServiceDefinition;
}

/** Wraps our handlers into grpc-js handlers: unary handlers get error mapping to etcd's code + message. */
export function grpcImplementation<S extends ServiceDesc>(desc: S, impl: ServiceImpl<S>, log: Logger): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const name of Object.keys(desc)) {
    const m = desc[name]!;
    const h = impl[name as keyof S] as unknown;
    if (m.requestStream || m.responseStream) {
      out[name] = h as grpc.UntypedHandleCall;
      continue;
    }
    const unary = h as UnaryHandler<MethodDesc>;
    out[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      // The abort signal is created only if a handler asks for it: most calls never do, and an AbortController
      // per call is measurable at tens of thousands of calls per second.
      let ac: AbortController | undefined;
      const ctx: CallContext = {
        metadata: call.metadata,
        get signal() {
          if (!ac) {
            const c = (ac = new AbortController());
            if (call.cancelled) c.abort();
            else call.once('cancelled', () => c.abort());
          }
          return ac.signal;
        },
      };
      unary(call.request as never, ctx).then(
        (res) => callback(null, res),
        (err: unknown) => {
          const w = toWireError(err);
          if (w.unexpected) log.error(`${m.path}: unexpected error`, { err: err instanceof Error ? err.stack : String(err) });
          callback({ code: w.code as number as grpc.status, details: w.message, metadata: new grpc.Metadata() });
        },
      );
    }) as grpc.UntypedHandleCall;
  }
  return out;
}

/** Sends a wire error on a stream and ends it. */
export function endWithError(call: { emit(event: 'error', err: unknown): boolean; destroy?: unknown }, err: unknown): void {
  const w = toWireError(err);
  call.emit('error', { code: w.code as number as grpc.status, details: w.message, metadata: new grpc.Metadata() });
}
