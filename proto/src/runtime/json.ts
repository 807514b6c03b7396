/**
 * Error messages mimic Go's encoding/json and golang/protobuf's jsonpb (which etcd's gateway uses), since the
 * gateway answers malformed JSON with them: clients and scripts see the same text from latchkey as from etcd.
 *
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

export function jsonObject(v: unknown, _type: string): Record<string, unknown> {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type map[string]json.RawMessage`);
  }
  return v as Record<string, unknown>;
}

export function jsonArray(v: unknown, _field: string): unknown[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type []json.RawMessage`);
  return v;
}

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** Go's JSON number grammar. */
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * Parses an integer given as a JSON number or a quoted one (jsonpb accepts both for 64-bit fields), with Go's
 * errors: a quoted non-number fails as JSON syntax inside the quotes; a number that is not an integer in range
 * fails as "cannot unmarshal number N into Go value of type T".
 */
function integerFromJson(v: unknown, goType: string, min: bigint, max: bigint): bigint {
  let text: string;
  if (typeof v === 'number') text = String(v);
  else if (typeof v === 'string') {
    text = v;
    if (text === '') throw new JsonError('unexpected end of JSON input');
    if (!JSON_NUMBER.test(text)) {
      const bad = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text)?.[0].length ?? 0;
      const ch = text[bad] ?? text[0]!;
      throw new JsonError(bad === 0 ? `invalid character '${ch}' looking for beginning of value` : `invalid character '${ch}' after top-level value`);
    }
  } else {
    throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type ${goType}`);
  }
  if (!/^-?\d+$/.test(text)) throw new JsonError(`json: cannot unmarshal number ${text} into Go value of type ${goType}`);
  const n = BigInt(text);
  if (n < min || n > max) throw new JsonError(`json: cannot unmarshal number ${text} into Go value of type ${goType}`);
  return n;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

export function int64FromJson(v: unknown, _field: string, unsigned = false): bigint {
  if (v === null || v === undefined) return 0n;
  return unsigned ? integerFromJson(v, 'uint64', 0n, UINT64_MAX) : integerFromJson(v, 'int64', INT64_MIN, INT64_MAX);
}

export function int64NumberFromJson(v: unknown, field: string, unsigned = false): number {
  const n = int64FromJson(v, field, unsigned);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new JsonError(`json: cannot unmarshal number ${String(v)} into Go value of type ${unsigned ? 'uint64' : 'int64'}`);
  }
  return Number(n);
}

export function int32FromJson(v: unknown, _field: string, unsigned = false): number {
  if (v === null || v === undefined) return 0;
  return Number(unsigned ? integerFromJson(v, 'uint32', 0n, 0xffffffffn) : integerFromJson(v, 'int32', -0x80000000n, 0x7fffffffn));
}

export function boolFromJson(v: unknown, _field: string): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v !== 'boolean') throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type bool`);
  return v;
}

export function stringFromJson(v: unknown, _field: string): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type string`);
  return v;
}

const B64_ALPHABET = /[A-Za-z0-9+/]/;

/** Strict standard base64 with padding, as Go's `base64.StdEncoding` accepts it (\r and \n are ignored). */
export function bytesFromJson(v: unknown, _field: string): Uint8Array {
  if (v === null || v === undefined) return new Uint8Array(0);
  if (typeof v !== 'string') throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type []uint8`);
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

export function enumFromJson(v: unknown, _field: string, names: { readonly byName: Readonly<Record<string, number>>; readonly goName: string }): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string') {
    const n = names.byName[v];
    if (n !== undefined) return n;
    throw new JsonError(`unknown value ${JSON.stringify(v)} for enum ${names.goName}`);
  }
  throw new JsonError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type ${names.goName}`);
}

export function enumToJson(v: number, byNumber: Readonly<Record<number, string>>): string | number {
  return byNumber[v] ?? v;
}
