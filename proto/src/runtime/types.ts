import type { JsonObject } from './json.js';
import type { Reader, Writer } from './wire.js';

/**
 * The input shape of an encoder: every field optional, recursively. Absent fields encode as their zero value;
 * a oneof member or sub-message that is present is always encoded, even when it holds a zero value.
 */
export type Init<T> = T extends Uint8Array | bigint | number | string | boolean
  ? T
  : T extends readonly (infer U)[]
    ? readonly Init<U>[]
    : { [K in keyof T]?: Init<T[K]> };

/** The codec every generated message exposes under the message's own name. */
export interface MessageType<T> {
  /** Fully qualified proto name, e.g. `etcdserverpb.RangeRequest`. */
  readonly typeName: string;
  /** A complete message with every absent field set to its zero value. */
  create(init?: Init<T>): T;
  encode(m: Init<T>): Buffer;
  /** Throws `WireError` on malformed input. Bytes fields are views of `buf`. */
  decode(buf: Uint8Array): T;
  write(m: Init<T>, w: Writer): void;
  read(r: Reader, end: number): T;
  /** Proto3 JSON as etcd's grpc-gateway writes it (proto field names, zero values omitted). */
  toJSON(m: Init<T>): JsonObject;
  /** Accepts proto or lowerCamel field names; throws `JsonError` on values that do not fit. */
  fromJSON(json: unknown): T;
}

/** One RPC of a service, in the shape grpc-js expects plus the codecs. */
export interface MethodDesc {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestType: MessageType<any>;
  readonly responseType: MessageType<any>;
}

export type ServiceDesc = Readonly<Record<string, MethodDesc>>;

export type RequestOf<M extends MethodDesc> = M['requestType'] extends MessageType<infer T> ? T : never;
export type ResponseOf<M extends MethodDesc> = M['responseType'] extends MessageType<infer T> ? T : never;
