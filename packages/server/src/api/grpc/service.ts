import type * as grpc from '@grpc/grpc-js';
import type { ServiceDesc } from '@latchkey/proto';

/**
 * Converts one of our generated service descriptors to the definition grpc-js serves (used by the peer
 * transport; the client API is served by ./h2-server.ts).
 */
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
