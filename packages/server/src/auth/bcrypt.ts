/**
 * bcrypt (Provos and Mazières, 1999), the password hash etcd stores: Go's `golang.org/x/crypto/bcrypt`, whose
 * output looks like
 *
 *   $2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy
 *    │  │  └ 22 characters: the 16-byte salt     └ 31 characters: 23 bytes of the encrypted magic text
 *    │  └ cost: 2^cost rounds of key expansion
 *    └ version (2a, 2b and 2y hash the same way for passwords under 255 bytes)
 *
 * Storing the same format is what lets an etcd snapshot's users log in to latchkey after a restore, and latchkey's
 * to etcd. Synchronous and CPU-heavy (about 2^cost × 1 ms): callers run it off the main thread
 * (`password.ts`).
 *
 * The algorithm, for a password `pw` (bytes, with a trailing NUL, used cyclically: only the first 72 bytes count):
 *   state ← Blowfish's initial P-array and S-boxes (the hexadecimal digits of π after the point)
 *   ExpandKey(state, salt, pw)                     — Blowfish's key schedule, the salt mixed into every block
 *   repeat 2^cost: ExpandKey(state, 0, pw); ExpandKey(state, 0, salt)
 *   encrypt "OrpheanBeholderScryDoubt" (three 64-bit blocks) 64 times with the final state
 */

/** Blowfish's state: P (18 words) then the four S-boxes (4 × 256 words), in one array. */
const P_WORDS = 18;
const STATE_WORDS = P_WORDS + 4 * 256;

let initialState: Uint32Array | undefined;

/**
 * Blowfish's initial state: the first 1,042 32-bit words of π's fraction, computed once with Machin's formula
 * π = 16·atan(1/5) − 4·atan(1/239) in fixed point (64 guard bits). P[0] = 0x243f6a88, S0[0] = 0xd1310ba6.
 */
function blowfishInit(): Uint32Array {
  if (initialState) return initialState;
  const bits = BigInt(STATE_WORDS * 32 + 64);
  const one = 1n << bits;
  const atanInv = (x: bigint): bigint => {
    // atan(1/x) = Σ (−1)^k / ((2k+1)·x^(2k+1))
    let sum = 0n;
    let power = one / x;
    const x2 = x * x;
    for (let k = 0n; power !== 0n; k++) {
      const term = power / (2n * k + 1n);
      sum = k % 2n === 0n ? sum + term : sum - term;
      power /= x2;
    }
    return sum;
  };
  const pi = 16n * atanInv(5n) - 4n * atanInv(239n);
  const fraction = (pi - 3n * one) >> 64n; // STATE_WORDS × 32 bits
  const state = new Uint32Array(STATE_WORDS);
  for (let i = 0; i < STATE_WORDS; i++) state[i] = Number((fraction >> BigInt((STATE_WORDS - 1 - i) * 32)) & 0xffffffffn);
  initialState = state;
  return state;
}

/** The Blowfish round function F. */
function f(st: Uint32Array, x: number): number {
  return ((((st[P_WORDS + (x >>> 24)]! + st[P_WORDS + 256 + ((x >>> 16) & 0xff)]!) >>> 0) ^ st[P_WORDS + 512 + ((x >>> 8) & 0xff)]!) + st[P_WORDS + 768 + (x & 0xff)]!) >>> 0;
}

/** Encrypts the block `block[at]`, `block[at + 1]` in place under `st`. */
function encipher(st: Uint32Array, block: Uint32Array, at: number): void {
  let l = block[at]!;
  let r = block[at + 1]!;
  // Sixteen rounds, two per pass, with the halves' roles alternating instead of swapping.
  for (let i = 0; i < 16; i += 2) {
    l ^= st[i]!;
    r ^= f(st, l >>> 0);
    r ^= st[i + 1]!;
    l ^= f(st, r >>> 0);
  }
  block[at] = (r ^ st[17]!) >>> 0;
  block[at + 1] = (l ^ st[16]!) >>> 0;
}

/** `data` as big-endian 32-bit words read cyclically: word i is bytes 4i … 4i+3 (mod length). */
function cyclicWords(data: Uint8Array, count: number): Uint32Array {
  const out = new Uint32Array(count);
  let j = 0;
  for (let i = 0; i < count; i++) {
    let w = 0;
    for (let b = 0; b < 4; b++) {
      w = (w << 8) | data[j]!;
      j = (j + 1) % data.length;
    }
    out[i] = w >>> 0;
  }
  return out;
}

/**
 * Blowfish's key schedule: P ^= the key's words, then every pair of state words is replaced by the encryption of
 * the previous pair — XORed first with the salt's next two words when `salt` is given (bcrypt's addition).
 */
function expandKey(st: Uint32Array, keyWords: Uint32Array, saltWords: Uint32Array | undefined): void {
  for (let i = 0; i < P_WORDS; i++) st[i] = (st[i]! ^ keyWords[i]!) >>> 0;
  const block = new Uint32Array(2);
  let s = 0;
  for (let i = 0; i < STATE_WORDS; i += 2) {
    if (saltWords) {
      block[0] = (block[0]! ^ saltWords[s]!) >>> 0;
      block[1] = (block[1]! ^ saltWords[s + 1]!) >>> 0;
      s = (s + 2) % saltWords.length;
    }
    encipher(st, block, 0);
    st[i] = block[0]!;
    st[i + 1] = block[1]!;
  }
}

const ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const MAGIC = Buffer.from('OrpheanBeholderScryDoubt');

/** bcrypt's base64: its own alphabet, no padding. */
function encode64(data: Uint8Array): string {
  let out = '';
  for (let i = 0; i < data.length; i += 3) {
    const n = (data[i]! << 16) | ((data[i + 1] ?? 0) << 8) | (data[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((data.length - i) * 8) / 6));
    for (let c = 0; c < chars; c++) out += ALPHABET[(n >>> (18 - 6 * c)) & 63];
  }
  return out;
}

/** The inverse of `encode64` for `bytes` bytes; undefined on a character outside the alphabet. */
function decode64(text: string, bytes: number): Uint8Array | undefined {
  const out = new Uint8Array(bytes);
  let acc = 0;
  let nbits = 0;
  let o = 0;
  for (const ch of text) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    nbits += 6;
    if (nbits >= 8 && o < bytes) {
      nbits -= 8;
      out[o++] = (acc >>> nbits) & 0xff;
    }
  }
  return o === bytes ? out : undefined;
}

export const MIN_COST = 4;
export const MAX_COST = 31;

/** The bcrypt hash of `password` with `salt` (16 bytes) at `cost`, in the `$2a$` format Go and etcd write. */
export function bcryptHash(password: Uint8Array, salt: Uint8Array, cost: number): string {
  if (!Number.isInteger(cost) || cost < MIN_COST || cost > MAX_COST) throw new RangeError(`bcrypt cost must be between ${MIN_COST} and ${MAX_COST}`);
  if (salt.length !== 16) throw new RangeError('bcrypt salt must be 16 bytes');
  return `$2a$${String(cost).padStart(2, '0')}$${encode64(salt)}${encode64(digest(password, salt, cost))}`;
}

/** The 23 hash bytes bcrypt prints. */
function digest(password: Uint8Array, salt: Uint8Array, cost: number): Uint8Array {
  const key = new Uint8Array(password.length + 1); // the trailing NUL takes part, as in C's bcrypt
  key.set(password);
  const keyWords = cyclicWords(key, P_WORDS);
  const saltWords = cyclicWords(salt, 4);
  const saltKey = cyclicWords(salt, P_WORDS);
  const st = Uint32Array.from(blowfishInit());
  expandKey(st, keyWords, saltWords);
  for (let round = 0, rounds = 2 ** cost; round < rounds; round++) {
    expandKey(st, keyWords, undefined);
    expandKey(st, saltKey, undefined);
  }
  const text = cyclicWords(MAGIC, 6);
  for (let b = 0; b < 6; b += 2) for (let i = 0; i < 64; i++) encipher(st, text, b);
  const out = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) out.writeUInt32BE(text[i]!, 4 * i);
  return out.subarray(0, 23);
}

export interface BcryptParts {
  cost: number;
  salt: Uint8Array;
}

/** The cost and salt of a `$2a$`/`$2b$`/`$2y$` hash, or undefined when `hash` is not one. */
export function parseBcrypt(hash: string): BcryptParts | undefined {
  const m = /^\$2[aby]\$(\d\d)\$([./A-Za-z0-9]{22})[./A-Za-z0-9]{31}$/.exec(hash);
  if (!m) return undefined;
  const cost = Number(m[1]);
  const salt = decode64(m[2]!, 16);
  if (cost < MIN_COST || cost > MAX_COST || !salt) return undefined;
  return { cost, salt };
}

/**
 * Whether `password` hashes to `hash`. The comparison is on the recomputed 60-character string (Go's
 * `CompareHashAndPassword` compares in constant time; the caller does, see `password.ts`), so a `$2b$` hash
 * compares with its version letter replaced.
 */
export function bcryptRecompute(password: Uint8Array, hash: string): string | undefined {
  const parts = parseBcrypt(hash);
  if (!parts) return undefined;
  return `${hash.slice(0, 3)}${bcryptHash(password, parts.salt, parts.cost).slice(3)}`;
}
