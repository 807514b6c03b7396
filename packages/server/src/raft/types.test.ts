import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeEntry, describeMessage, describeReady } from './describe.js';
import { ConfChangeType, decodeConfChange, encodeConfChange, EntryType, limitSize, MessageType, newMessage, type Entry } from './types.js';

describe('types - conf change codec', () => {
  it('types - a ConfChange round-trips through its binary format', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(ConfChangeType.AddNode, ConfChangeType.RemoveNode, ConfChangeType.UpdateNode, ConfChangeType.AddLearnerNode),
        fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }),
        fc.uint8Array({ maxLength: 40 }),
        (type, nodeId, context) => {
          expect(decodeConfChange(encodeConfChange({ type, nodeId, context }))).toEqual({ type, nodeId, context });
        },
      ),
    );
  });

  it('types - the format is documented: version, type, id big-endian, context', () => {
    const b = encodeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 0x0102n, context: new Uint8Array([9]) });
    expect([...b]).toEqual([1, 3, 0, 0, 0, 0, 0, 0, 1, 2, 9]);
  });

  it('types - malformed conf changes are refused', () => {
    expect(() => decodeConfChange(new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0, 1]))).toThrow(RangeError);
    expect(() => decodeConfChange(new Uint8Array([1, 9, 0, 0, 0, 0, 0, 0, 0, 1]))).toThrow(RangeError);
    expect(() => decodeConfChange(new Uint8Array([1]))).toThrow(RangeError);
    expect(() => encodeConfChange({ type: ConfChangeType.AddNode, nodeId: 2n ** 64n, context: new Uint8Array() })).toThrow(RangeError);
  });
});

describe('types - helpers', () => {
  const e = (i: number, n: number): Entry => ({ term: 1, index: i, type: EntryType.Normal, data: new Uint8Array(n) });

  it('types - limitSize keeps at least one entry and stays within the budget', () => {
    const ents = [e(1, 4), e(2, 4), e(3, 4)];
    expect(limitSize(ents, 0)).toHaveLength(1);
    expect(limitSize(ents, 40)).toHaveLength(2);
    expect(limitSize(ents, 60)).toHaveLength(3);
    expect(limitSize([], 10)).toEqual([]);
  });

  it('types - messages and entries render on one line', () => {
    expect(describeEntry({ term: 2, index: 5, type: EntryType.Normal, data: new TextEncoder().encode('put x') })).toBe('2/5 normal "put x"');
    const cc = encodeConfChange({ type: ConfChangeType.AddNode, nodeId: 4n, context: new Uint8Array() });
    expect(describeEntry({ term: 2, index: 6, type: EntryType.ConfChange, data: cc })).toBe('2/6 conf AddNode 4');
    expect(describeEntry({ term: 2, index: 7, type: EntryType.Normal, data: new Uint8Array([0, 255]) })).toBe('2/7 normal 0x00ff');
    const m = newMessage({ type: MessageType.MsgApp, from: 1n, to: 2n, term: 3, logTerm: 2, index: 4, commit: 4, entries: [e(5, 0)] });
    expect(describeMessage(m)).toBe('1->2 MsgApp term:3 log:2/4 commit:4 entries:[1/5 normal ""]');
    const r = newMessage({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: 3, index: 4, reject: true, rejectHint: 2, logTerm: 1 });
    expect(describeMessage(r)).toBe('2->1 MsgAppResp term:3 rejected index:4 hint:1/2');
    expect(describeReady({ readStates: [], entries: [], committedEntries: [], messages: [m], mustSync: false })).toBe(
      'messages:\n  1->2 MsgApp term:3 log:2/4 commit:4 entries:[1/5 normal ""]',
    );
  });
});
