import { describe, expect, it } from 'vitest';
import { ByteQueue, FLAG_END_HEADERS, FLAG_END_STREAM, FRAME, frameHeader, FrameReader, headerFrames } from './frames.js';

describe('h2 frames', () => {
  it('ByteQueue: takes across chunk boundaries as one buffer or as views, in order', () => {
    const q = new ByteQueue();
    for (const s of ['ab', '', 'cde', 'f']) q.push(Buffer.from(s));
    expect(q.length).toBe(6);
    expect(q.take(1).toString()).toBe('a');
    expect(q.take(3).toString()).toBe('bcd'); // spans two chunks: one copy
    const parts: Buffer[] = [];
    q.takeParts(2, parts);
    expect(parts.map(String)).toEqual(['e', 'f']);
    expect(q.length).toBe(0);
  });

  it('FrameReader: frames split anywhere across chunks come out whole and in order; an oversized one throws', () => {
    const wire = Buffer.concat([frameHeader(3, FRAME.DATA, 0, 1), Buffer.from('xyz'), frameHeader(0, FRAME.PING, 0, 0), frameHeader(2, FRAME.DATA, FLAG_END_STREAM, 3), Buffer.from('ok')]);
    const seen: [number, number, number, string][] = [];
    const r = new FrameReader(16, (len) => new Error(`too large: ${len}`));
    for (const b of wire) r.push(Buffer.of(b), (type, flags, stream, payload) => (seen.push([type, flags, stream, payload.toString()]), true));
    expect(seen).toEqual([
      [FRAME.DATA, 0, 1, 'xyz'],
      [FRAME.PING, 0, 0, ''],
      [FRAME.DATA, FLAG_END_STREAM, 3, 'ok'],
    ]);
    expect(() => new FrameReader(16, (len) => new Error(`too large: ${len}`)).push(frameHeader(17, FRAME.DATA, 0, 1), () => true)).toThrow('too large: 17');
  });

  it('headerFrames: one HEADERS frame, or HEADERS + CONTINUATION with END_HEADERS last and END_STREAM first', () => {
    const out: Buffer[] = [];
    expect(headerFrames(5, Buffer.alloc(10), true, 4, out)).toBe(3 * 9 + 10);
    const heads = out.filter((_, i) => i % 2 === 0).map((h) => [h.readUIntBE(0, 3), h[3], h[4]]);
    expect(heads).toEqual([
      [4, FRAME.HEADERS, FLAG_END_STREAM],
      [4, FRAME.CONTINUATION, 0],
      [2, FRAME.CONTINUATION, FLAG_END_HEADERS],
    ]);
  });
});
