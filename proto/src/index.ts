/**
 * @latchkey/proto — the etcd v3 wire contract as TypeScript: generated message codecs and service descriptors
 * (`./gen/`, from our own .proto files) plus the catalog of etcd's error codes and exact messages.
 *
 * The etcd client API packages (mvccpb, etcdserverpb, authpb, v3lockpb, v3electionpb, grpc.health.v1) are
 * exported flat: their names do not collide. latchkey's internal packages are namespaced.
 */
export * from './gen/mvccpb.js';
export * from './gen/authpb.js';
export * from './gen/etcdserverpb.js';
export * from './gen/v3lockpb.js';
export * from './gen/v3electionpb.js';
export * from './gen/grpc_health_v1.js';
export * as internalpb from './gen/latchkeypb.js';
export * as raftpb from './gen/latchkeyraftpb.js';
export { Reader, Writer, WireError, withWriter, EMPTY_BYTES } from './runtime/wire.js';
export { JsonError, type JsonObject, type JsonValue } from './runtime/json.js';
export type { Init, MessageType, MethodDesc, ServiceDesc, RequestOf, ResponseOf } from './runtime/types.js';
export * from './errors.js';
export * as hpack from './h2/hpack.js';
export { ByteQueue, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED, FLAG_PRIORITY, FRAME, FRAME_HEADER, frameHeader, FrameReader, headerFrames, u32 } from './h2/frames.js';
export { H2Channel, ClientStream, RpcError, ConnectivityState, metadata, type H2ChannelOptions, type MetadataLike, type UnaryCallHandle } from './h2/channel.js';
