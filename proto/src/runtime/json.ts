/**
 * Proto3 JSON mapping as etcd's grpc-gateway (v1, `OrigName: true`, `EmitDefaults: false`) writes and reads it:
 * - output uses the field names as written in the .proto (`create_revision`, `ID`, `peerURLs`);
 * - input accepts those names or their lowerCamel JSON names (`createRevision`);
 * - 64-bit integers are strings on output; input takes a string or a number holding an integer;
 * - bytes are standard base64 with padding (input is checked strictly);
 * - enums are names on output; input takes a name or a number;
 * - zero values are omitted on output; a set oneof member is always written.
 */

/** Thrown for JSON that does not fit the message; the gateway answers it with InvalidArgument. */
export class JsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonError';
  }
}

export type JsonObject = { [key: string]: JsonValue };
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

export function jsonObject(v: unknown, type: string): Record<string, unknown> {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type ${type}`);
  }
  return v as Record<string, unknown>;
}

export function jsonArray(v: unknown, field: string): unknown[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into field ${field} of type array`);
  return v;
}

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}

const INT_RE = /^-?\d+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

export function int64FromJson(v: unknown, field: string, unsigned = false): bigint {
  if (v === null || v === undefined) return 0n;
  let n: bigint;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new JsonError(`invalid value for integer field ${field}: ${v}`);
    n = BigInt(v);
  } else if (typeof v === 'string' && INT_RE.test(v)) {
    n = BigInt(v);
  } else {
    throw new JsonError(`invalid value for integer field ${field}: ${JSON.stringify(v)}`);
  }
  if (unsigned ? n < 0n || n > UINT64_MAX : n < INT64_MIN || n > INT64_MAX) {
    throw new JsonError(`value out of range for field ${field}: ${String(v)}`);
  }
  return n;
}

export function int64NumberFromJson(v: unknown, field: string, unsigned = false): number {
  const n = int64FromJson(v, field, unsigned);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new JsonError(`value out of range for field ${field}: ${String(v)}`);
  }
  return Number(n);
}

export function int32FromJson(v: unknown, field: string, unsigned = false): number {
  if (v === null || v === undefined) return 0;
  const n = typeof v === 'string' && INT_RE.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) {
    throw new JsonError(`invalid value for integer field ${field}: ${JSON.stringify(v)}`);
  }
  if (unsigned ? n < 0 || n > 0xffffffff : n < -0x80000000 || n > 0x7fffffff) {
    throw new JsonError(`value out of range for field ${field}: ${n}`);
  }
  return n;
}

export function boolFromJson(v: unknown, field: string): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v !== 'boolean') throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into field ${field} of type bool`);
  return v;
}

export function stringFromJson(v: unknown, field: string): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into field ${field} of type string`);
  return v;
}

const B64_ALPHABET = /[A-Za-z0-9+/]/;

/** Strict standard base64 with padding, as Go's `base64.StdEncoding` accepts it (\r and \n are ignored). */
export function bytesFromJson(v: unknown, field: string): Uint8Array {
  if (v === null || v === undefined) return new Uint8Array(0);
  if (typeof v !== 'string') throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into field ${field} of type []byte`);
  const s = v.replace(/[\r\n]/g, '');
  let i = 0;
  while (i < s.length && B64_ALPHABET.test(s[i]!)) i++;
  let pad = 0;
  while (i + pad < s.length && s[i + pad] === '=') pad++;
  if (i + pad !== s.length) throw new JsonError(`illegal base64 data at input byte ${i + pad}`);
  if (pad > 2 || s.length % 4 !== 0) throw new JsonError(`illegal base64 data at input byte ${Math.max(0, i - (i % 4))}`);
  return new Uint8Array(Buffer.from(s, 'base64'));
}

export function bytesToJson(v: Uint8Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export function enumFromJson(v: unknown, field: string, byName: Readonly<Record<string, number>>): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string') {
    const n = byName[v];
    if (n !== undefined) return n;
  }
  throw new JsonError(`invalid value for enum field ${field}: ${JSON.stringify(v)}`);
}

export function enumToJson(v: number, byNumber: Readonly<Record<number, string>>): string | number {
  return byNumber[v] ?? v;
}
