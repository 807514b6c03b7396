import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HpackDecoder, HpackError, STATIC_TABLE, encodeIndexed, encodeLiteral } from './hpack.js';
import { HuffmanError, huffmanDecode, huffmanEncode } from './huffman.js';

interface HeaderField {
  name: string;
  value: string;
  huffman?: boolean;
  neverIndex?: boolean;
}
const hpackjs = createRequire(import.meta.url)('hpack.js') as {
  compressor: { create(o: { table: { size: number } }): { write(h: HeaderField[]): void; read(): Buffer | null; updateTableSize(n: number): void } };
  decompressor: { create(o: { table: { size: number } }): { write(b: Buffer): void; execute(): void; read(): HeaderField | null } };
};
const staticJs = createRequire(import.meta.url)('hpack.js/lib/hpack/static-table.js') as { table: { name: string; value: string }[] };

function compress(c: ReturnType<typeof hpackjs.compressor.create>, headers: HeaderField[]): Buffer {
  c.write(headers);
  const parts: Buffer[] = [];
  for (let b = c.read(); b !== null; b = c.read()) parts.push(b);
  return Buffer.concat(parts);
}

function decodeWithHpackJs(block: Buffer): HeaderField[] {
  const d = hpackjs.decompressor.create({ table: { size: 4096 } });
  d.write(block);
  d.execute();
  const out: HeaderField[] = [];
  for (let h = d.read(); h !== null; h = d.read()) out.push(h);
  return out;
}

const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
const headerValue = fc.oneof(fc.stringMatching(/^[ -~]{0,40}$/), fc.constantFrom('application/grpc', 'trailers', '/etcdserverpb.KV/Put', ''));

describe('hpack - tables and Huffman', () => {
  it('has RFC 7541 static table entries (checked against hpack.js)', () => {
    expect(STATIC_TABLE.length).toBe(61);
    expect(STATIC_TABLE.map(([name, value]) => ({ name, value }))).toEqual(staticJs.table.map(({ name, value }) => ({ name, value })));
  });

  it('decodes the RFC 7541 C.4.1 Huffman example', () => {
    const coded = Buffer.from('f1e3c2e5f23a6ba0ab90f4ff', 'hex');
    expect(huffmanDecode(coded, 0, coded.length)).toBe('www.example.com');
    expect(huffmanEncode(Buffer.from('www.example.com'))).toEqual(coded);
  });

  it('round-trips any octets through Huffman coding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const coded = huffmanEncode(data);
        expect(Buffer.from(huffmanDecode(coded, 0, coded.length), 'latin1')).toEqual(Buffer.from(data));
      }),
    );
  });

  it('rejects bad Huffman padding', () => {
    // 'a' is 00011: one byte, three padding bits, which must be 1s (0x1f).
    const a = huffmanEncode(Buffer.from('a'));
    expect(a).toEqual(Buffer.from([0x1f]));
    expect(huffmanDecode(a, 0, 1)).toBe('a');
    expect(() => huffmanDecode(Buffer.from([0x18]), 0, 1)).toThrow(HuffmanError);
    // Eleven padding bits (more than 7) are too many even when they are all 1s.
    expect(() => huffmanDecode(Buffer.from([0x1f, 0xff]), 0, 2)).toThrow(HuffmanError);
  });
});

describe('hpack - decoder', () => {
  it('decodes what a real encoder (hpack.js) writes, across blocks that share its dynamic table', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.record({ name: headerName, value: headerValue, huffman: fc.boolean(), neverIndex: fc.boolean() }), { maxLength: 12 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom(4096, 256, 64),
        (blocks, tableSize) => {
          const c = hpackjs.compressor.create({ table: { size: tableSize } });
          const d = new HpackDecoder(4096);
          for (const headers of blocks) {
            const block = compress(c, headers);
            const got = d.decode(block, 1 << 20);
            const want: Record<string, string | string[]> = {};
            for (const h of headers) {
              const prev = want[h.name];
              want[h.name] = prev === undefined ? h.value : Array.isArray(prev) ? [...prev, h.value] : [prev, h.value];
            }
            expect({ ...got }).toEqual(want);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('follows dynamic table size updates and evictions', () => {
    const d = new HpackDecoder(4096);
    // Literal with incremental indexing, new name "x-a": "1" → dynamic index 62.
    const add = Buffer.from([0x40, 3, ...Buffer.from('x-a'), 1, ...Buffer.from('1')]);
    expect({ ...d.decode(add, 1 << 20) }).toEqual({ 'x-a': '1' });
    expect({ ...d.decode(Buffer.from([0x80 | 62]), 1 << 20) }).toEqual({ 'x-a': '1' });
    // A size update to 0 evicts everything: index 62 no longer exists.
    expect(() => d.decode(Buffer.from([0x20, 0x80 | 62]), 1 << 20)).toThrow(HpackError);
    // Size updates above our limit, after a field, or index 0 are errors.
    expect(() => new HpackDecoder(4096).decode(Buffer.from([0x3f, 0xe2, 0x1f]), 1 << 20)).toThrow(HpackError);
    expect(() => new HpackDecoder(4096).decode(Buffer.from([0x82, 0x20]), 1 << 20)).toThrow(HpackError);
    expect(() => new HpackDecoder(4096).decode(Buffer.from([0x80]), 1 << 20)).toThrow(HpackError);
  });

  it('rejects truncated input and header lists over the limit', () => {
    const block = compress(hpackjs.compressor.create({ table: { size: 4096 } }), [{ name: 'x-long', value: 'v'.repeat(100) }]);
    for (let cut = 1; cut < block.length; cut++) {
      expect(() => new HpackDecoder(4096).decode(block.subarray(0, cut), 1 << 20)).toThrow();
    }
    expect(() => new HpackDecoder(4096).decode(block, 64)).toThrow(HpackError);
  });

  it('never lets a header name reach the object prototype', () => {
    // Literal without indexing, new name "__proto__", value "x".
    const block = Buffer.from([0x00, 9, ...Buffer.from('__proto__'), 1, ...Buffer.from('x')]);
    const h = new HpackDecoder(4096).decode(block, 1 << 20);
    expect(h['__proto__']).toBe('x');
    expect(Object.getPrototypeOf(h)).toBe(null);
  });
});

describe('hpack - encoder', () => {
  it('writes response headers a real decoder reads back', () => {
    const block = Buffer.concat([encodeIndexed(':status', '200'), encodeLiteral('content-type', 'application/grpc'), encodeLiteral('grpc-status', '14'), encodeLiteral('grpc-message', 'x'.repeat(300))]);
    expect(decodeWithHpackJs(block).map(({ name, value }) => [name, value])).toEqual([
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['grpc-status', '14'],
      ['grpc-message', 'x'.repeat(300)],
    ]);
  });
});
