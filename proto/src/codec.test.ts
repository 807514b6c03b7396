import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Compare,
  Compare_CompareTarget,
  JsonError,
  KeyValue,
  LeaseGrantResponse,
  Member,
  RangeRequest,
  RangeRequest_SortOrder,
  RequestOp,
  TxnRequest,
  WatchCreateRequest,
  WatchCreateRequest_FilterType,
  WatchRequest,
  WatchResponse,
  WireError,
  raftpb,
} from './index.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const enc = (s: string) => new TextEncoder().encode(s);

describe('codec - binary', () => {
  it('encodes fields in number order and skips zero values', () => {
    // key=1 "foo", limit=3 varint 2
    expect(hex(RangeRequest.encode({ key: enc('foo'), limit: 2n, serializable: false }))).toBe('0a03666f6f1802');
  });

  it('encodes negative int64 as ten-byte two’s complement and decodes it back', () => {
    const b = WatchResponse.encode({ watchId: -1n });
    expect(hex(b)).toBe('10ffffffffffffffffff01');
    expect(WatchResponse.decode(b).watchId).toBe(-1n);
  });

  it('keeps uint64 ids above 2^53 exact', () => {
    const id = 0xdeadbeefcafebaben;
    const m = Member.decode(Member.encode({ ID: id, name: 'm1', peerURLs: ['http://a', 'http://b'] }));
    expect(m.ID).toBe(id);
    expect(m.peerURLs).toEqual(['http://a', 'http://b']);
  });

  it('writes a oneof member even when it holds a zero value', () => {
    const c = Compare.decode(Compare.encode({ key: enc('k'), target: Compare_CompareTarget.CREATE, createRevision: 0n }));
    expect(c.createRevision).toBe(0n);
    expect(c.version).toBeUndefined();
    expect(Compare.decode(Compare.encode({ key: enc('k') })).createRevision).toBeUndefined();
  });

  it('writes an empty sub-message when present (progress request)', () => {
    const b = WatchRequest.encode({ progressRequest: {} });
    expect(hex(b)).toBe('1a00');
    expect(WatchRequest.decode(b).progressRequest).toEqual({});
  });

  it('encodes repeated enums packed and decodes packed or unpacked', () => {
    const packed = WatchCreateRequest.encode({ filters: [WatchCreateRequest_FilterType.NOPUT, WatchCreateRequest_FilterType.NODELETE] });
    expect(hex(packed)).toBe('2a020001');
    expect(WatchCreateRequest.decode(packed).filters).toEqual([0, 1]);
    expect(WatchCreateRequest.decode(Buffer.from('28002801', 'hex')).filters).toEqual([0, 1]);
  });

  it('handles long sub-messages (multi-byte length prefix)', () => {
    const value = new Uint8Array(300).fill(7);
    const txn: TxnRequest = TxnRequest.create({ success: [{ requestPut: { key: enc('k'), value } }] });
    const back = TxnRequest.decode(TxnRequest.encode(txn));
    expect(new Uint8Array(back.success[0]!.requestPut!.value)).toEqual(value);
  });

  it('skips unknown fields', () => {
    // field 15 varint 1, then key
    const b = Buffer.from('78010a0161', 'hex');
    expect(new TextDecoder().decode(RangeRequest.decode(b).key)).toBe('a');
  });

  it('rejects malformed input with WireError', () => {
    expect(() => RangeRequest.decode(Buffer.from('0a05666f', 'hex'))).toThrow(WireError);
    expect(() => RangeRequest.decode(Buffer.from('ff', 'hex'))).toThrow(WireError);
    expect(() => RangeRequest.decode(Buffer.from('0d000000', 'hex'))).toThrow(WireError); // key with wire type 5
  });

  it('round-trips arbitrary key-values', () => {
    fc.assert(
      fc.property(fc.uint8Array(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.uint8Array({ maxLength: 500 }), (key, rev, value) => {
        const kv = { key, createRevision: rev, modRevision: rev, version: 1n, value, lease: rev };
        const back = KeyValue.decode(KeyValue.encode(kv));
        expect({ ...back, key: new Uint8Array(back.key), value: new Uint8Array(back.value) }).toEqual(kv);
      }),
    );
  });

  it('round-trips raft messages with number index and term', () => {
    const m = raftpb.Message.decode(
      raftpb.Message.encode({ type: 3, to: 2n, from: 0xffffffffffffffffn, term: 7, index: 2 ** 40, entries: [{ term: 7, index: 2 ** 40 + 1, data: enc('x') }] }),
    );
    expect(m.from).toBe(0xffffffffffffffffn);
    expect(m.index).toBe(2 ** 40);
    expect(m.entries[0]?.index).toBe(2 ** 40 + 1);
  });
});

describe('codec - JSON as the gateway writes it', () => {
  it('uses proto names, string int64, base64 bytes and omits zero values', () => {
    expect(
      KeyValue.toJSON({ key: enc('foo'), createRevision: 2n, modRevision: 3n, version: 0n, value: new Uint8Array(0) }),
    ).toEqual({ key: 'Zm9v', create_revision: '2', mod_revision: '3' });
    expect(LeaseGrantResponse.toJSON({ ID: 7777n, TTL: 10n })).toEqual({ ID: '7777', TTL: '10' });
  });

  it('writes enums by name and oneofs under the member name', () => {
    expect(RangeRequest.toJSON({ sortOrder: RangeRequest_SortOrder.DESCEND })).toEqual({ sort_order: 'DESCEND' });
    expect(RequestOp.toJSON({ requestPut: { key: enc('a') } })).toEqual({ request_put: { key: 'YQ==' } });
  });

  it('accepts proto names or lowerCamel names, strings or numbers for int64', () => {
    const r = RangeRequest.fromJSON({ key: 'Zm9v', rangeEnd: 'Zm9w', limit: 2, revision: '5', keys_only: true, sort_order: 'DESCEND' });
    expect(r.rangeEnd).toEqual(enc('fop'));
    expect(r.limit).toBe(2n);
    expect(r.revision).toBe(5n);
    expect(r.keysOnly).toBe(true);
    expect(r.sortOrder).toBe(RangeRequest_SortOrder.DESCEND);
    expect(RequestOp.fromJSON({ requestRange: { key: 'YQ==' } }).requestRange?.key).toEqual(enc('a'));
  });

  it('rejects values that do not fit', () => {
    expect(() => RangeRequest.fromJSON({ key: 'Zm9v_' })).toThrow(JsonError);
    expect(() => RangeRequest.fromJSON({ key: 'Zm9' })).toThrow(/illegal base64/);
    expect(() => RangeRequest.fromJSON({ limit: '1.0' })).toThrow(JsonError);
    expect(() => RangeRequest.fromJSON({ limit: 'abc' })).toThrow(JsonError);
    expect(() => RangeRequest.fromJSON({ keys_only: 'true' })).toThrow(JsonError);
    expect(() => RangeRequest.fromJSON([1])).toThrow(JsonError);
  });

  it('ignores unknown fields', () => {
    expect(RangeRequest.fromJSON({ nosuch: 1, key: 'YQ==' }).key).toEqual(enc('a'));
  });
});
