import { createRequire } from 'node:module';

/**
 * HPACK's static Huffman code (RFC 7541, Appendix B), decoding only: the server never Huffman-encodes.
 *
 * The code table itself (257 [bit length, code] pairs: 256 octets and EOS) is data, read from the `hpack.js`
 * dependency; the decoder is ours: a binary trie in one Int32Array, walked a bit at a time. Node `n` has its
 * children at `trie[2n]` (bit 0) and `trie[2n + 1]` (bit 1); a child value > 0 is another node, < 0 is a leaf
 * holding `-(symbol + 1)`, 0 means "no such code". Example with the codes a=0, b=10, c=11: node 0's bit-0 child
 * is leaf a (-98), its bit-1 child is node 1, whose children are leaves b (-99) and c (-100).
 *
 * Header values that repeat (nearly all of them) come from the HPACK dynamic table, so this runs only for new
 * values; a short string costs well under a microsecond.
 */
const EOS = 256;

const codes = (createRequire(import.meta.url)('hpack.js/lib/hpack/huffman.js') as { encode: [number, number][] }).encode;

function buildTrie(): Int32Array {
  if (codes.length !== 257) throw new Error('hpack: unexpected Huffman table');
  // A complete prefix code with 257 leaves has 256 internal nodes.
  const trie = new Int32Array(2 * 256);
  let next = 1;
  for (let sym = 0; sym < codes.length; sym++) {
    const [len, code] = codes[sym]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) % 2;
      const slot = 2 * node + bit;
      if (i === 0) {
        trie[slot] = -(sym + 1);
      } else {
        if (trie[slot]! === 0) trie[slot] = next++;
        node = trie[slot]!;
      }
    }
  }
  return trie;
}

const TRIE = buildTrie();

export class HuffmanError extends Error {}

/**
 * Decodes a Huffman-coded string literal into octets (as a latin1 string: one char per octet). Rejects EOS inside
 * the data and padding longer than 7 bits or not made of 1s, as RFC 7541 §5.2 requires.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  let out = '';
  let node = 0;
  let depth = 0; // bits consumed since the last symbol
  let allOnes = true; // the bits since the last symbol are all 1 (a valid padding prefix of EOS)
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      const v = TRIE[2 * node + bit]!;
      if (v < 0) {
        const sym = -v - 1;
        if (sym === EOS) throw new HuffmanError('hpack: EOS in a Huffman string');
        out += String.fromCharCode(sym);
        node = 0;
        depth = 0;
        allOnes = true;
      } else if (v === 0) {
        throw new HuffmanError('hpack: invalid Huffman code');
      } else {
        node = v;
        depth++;
        if (bit === 0) allOnes = false;
      }
    }
  }
  if (depth > 7 || !allOnes) throw new HuffmanError('hpack: invalid Huffman padding');
  return out;
}

/** Huffman-encodes octets (tests use it to produce what clients send). */
export function huffmanEncode(data: Uint8Array): Buffer {
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const octet of data) {
    const [len, code] = codes[octet]!;
    for (let i = len - 1; i >= 0; i--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** i) % 2);
      bits++;
      if (bits === 8) {
        bytes.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) bytes.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(bytes);
}
