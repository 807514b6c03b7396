/**
 * Go's text formatting, reproduced where etcdctl's output depends on it: `%q` quoting (strconv.Quote), Go's
 * `time.Duration` strings, `go-humanize`'s byte sizes, `%v` of a string slice, and the string escaping of Go's
 * `encoding/json`. Each function states the Go behaviour it reproduces; the tests pin the tricky cases.
 */

const HEX = '0123456789abcdef';

/** Go's `unicode.IsPrint` for a non-ASCII rune: letters, marks, numbers, punctuation and symbols. */
function isPrintableRune(cp: number): boolean {
  if (cp === 0x20) return true;
  const ch = String.fromCodePoint(cp);
  return /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch);
}

/**
 * Go's `%q` of a string or byte slice (`strconv.Quote`): double quotes; `"` and `\` escaped; `\a \b \f \n \r \t \v`;
 * other control bytes and invalid UTF-8 bytes as `\xNN`; non-printable runes as `\uNNNN` / `\UNNNNNNNN`;
 * printable Unicode kept as is.
 *
 * ```
 * goQuote('a"b')            // "a\"b"
 * goQuote(Buffer.of(0xff))  // "\xff"
 * ```
 */
export function goQuote(input: string | Uint8Array): string {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const { cp, size } = decodeRune(bytes, i);
    if (cp < 0) {
      out += `\\x${HEX[bytes[i]! >> 4]}${HEX[bytes[i]! & 15]}`;
      i += 1;
      continue;
    }
    i += size;
    if (cp === 0x22) out += '\\"';
    else if (cp === 0x5c) out += '\\\\';
    else if (cp < 0x80 && cp >= 0x20 && cp !== 0x7f) out += String.fromCharCode(cp);
    else if (cp >= 0x80 && isPrintableRune(cp)) out += String.fromCodePoint(cp);
    else {
      switch (cp) {
        case 7: out += '\\a'; break;
        case 8: out += '\\b'; break;
        case 12: out += '\\f'; break;
        case 10: out += '\\n'; break;
        case 13: out += '\\r'; break;
        case 9: out += '\\t'; break;
        case 11: out += '\\v'; break;
        default:
          if (cp < 0x20 || cp === 0x7f) out += `\\x${HEX[cp >> 4]}${HEX[cp & 15]}`;
          else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
          else out += `\\U${cp.toString(16).padStart(8, '0')}`;
      }
    }
  }
  return `${out}"`;
}

/** One UTF-8 rune at `i`: its code point and byte length, or cp -1 for an invalid byte (Go's RuneError, width 1). */
function decodeRune(b: Uint8Array, i: number): { cp: number; size: number } {
  const c0 = b[i]!;
  if (c0 < 0x80) return { cp: c0, size: 1 };
  const cont = (k: number): number => {
    const c = b[i + k];
    return c !== undefined && (c & 0xc0) === 0x80 ? c & 0x3f : -1;
  };
  if (c0 >= 0xc2 && c0 <= 0xdf) {
    const c1 = cont(1);
    if (c1 >= 0) return { cp: ((c0 & 0x1f) << 6) | c1, size: 2 };
  } else if (c0 >= 0xe0 && c0 <= 0xef) {
    const c1 = cont(1);
    const c2 = cont(2);
    if (c1 >= 0 && c2 >= 0) {
      const cp = ((c0 & 0x0f) << 12) | (c1 << 6) | c2;
      if (cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff)) return { cp, size: 3 };
    }
  } else if (c0 >= 0xf0 && c0 <= 0xf4) {
    const c1 = cont(1);
    const c2 = cont(2);
    const c3 = cont(3);
    if (c1 >= 0 && c2 >= 0 && c3 >= 0) {
      const cp = ((c0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
      if (cp >= 0x10000 && cp <= 0x10ffff) return { cp, size: 4 };
    }
  }
  return { cp: -1, size: 1 };
}

/** Go's `%v` of a `[]string`: `[a b c]` (no quoting). */
export function goStringSlice(items: readonly string[]): string {
  return `[${items.join(' ')}]`;
}

/** Go's `%q` of a `[]string`: `["a" "b"]`. */
export function goQuoteSlice(items: readonly string[]): string {
  return `[${items.map((s) => goQuote(s)).join(' ')}]`;
}

/**
 * Go's `time.Duration.String()` for a duration in nanoseconds: `0s`, `850ns`, `1.5µs`, `725.01µs`, `18.903136ms`,
 * `2.5s`, `1m30s`, `2h0m0.5s` — trailing zeros of the fraction dropped.
 */
export function goDuration(nanos: bigint): string {
  if (nanos === 0n) return '0s';
  const neg = nanos < 0n;
  let u = neg ? -nanos : nanos;
  let s: string;
  if (u < 1_000_000_000n) {
    // Sub-second: one unit (ns, µs or ms) with a fraction.
    let unit: string;
    let prec: number;
    if (u < 1_000n) return `${neg ? '-' : ''}${u}ns`;
    if (u < 1_000_000n) {
      unit = 'µs';
      prec = 3;
    } else {
      unit = 'ms';
      prec = 6;
    }
    s = fraction(u, prec) + unit;
  } else {
    const secsPart = fraction(u % 60_000_000_000n, 9); // seconds with fraction, below one minute
    u /= 60_000_000_000n; // minutes
    s = `${secsPart}s`;
    if (u > 0n) {
      s = `${u % 60n}m${s}`;
      u /= 60n;
      if (u > 0n) s = `${u}h${s}`;
    }
  }
  return neg ? `-${s}` : s;
}

/** `v / 10^prec` printed with its fraction, trailing zeros (and a bare dot) removed. */
function fraction(v: bigint, prec: number): string {
  const scale = 10n ** BigInt(prec);
  const whole = v / scale;
  const frac = (v % scale).toString().padStart(prec, '0').replace(/0+$/, '');
  return frac === '' ? whole.toString() : `${whole}.${frac}`;
}

/**
 * `x` with `digits` decimals as Go's `%.Nf` prints it: correctly rounded from the exact binary value, ties to
 * even (`%.0f` of 20.5 is "20", `%.1f` of 2.25 is "2.2"); JavaScript's toFixed rounds such ties up.
 */
export function goFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return String(x);
  const neg = x < 0;
  const a = Math.abs(x);
  const exact = a.toFixed(Math.min(100, digits + 60));
  const [, frac = ''] = exact.split('.');
  const tail = frac.slice(digits);
  let out: string;
  if (/^50*$/.test(tail)) {
    // An exact tie: keep the truncated value when its last digit is even, else round up (as toFixed does).
    const truncated = digits === 0 ? exact.split('.')[0]! : exact.slice(0, exact.indexOf('.') + 1 + digits);
    const last = Number(truncated[truncated.length - 1]);
    out = last % 2 === 0 ? truncated : a.toFixed(digits);
  } else out = a.toFixed(digits);
  return neg && Number(out) !== 0 ? `-${out}` : out;
}

/**
 * `humanize.Bytes` (SI, base 1000) as etcdctl prints DB sizes: `9 B`, `20 kB`, `1.5 MB`, `25 kB`.
 * Below 10 bytes the plain count; otherwise one decimal when the value is below 10, none above.
 */
export function humanizeBytes(size: bigint | number): string {
  const s = Number(size);
  if (s < 10) return `${s} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(s) / Math.log(1000));
  const suffix = units[e] ?? 'EB';
  const val = Math.floor((s / 1000 ** e) * 10 + 0.5) / 10;
  return val < 10 ? `${goFixed(val, 1)} ${suffix}` : `${goFixed(val, 0)} ${suffix}`;
}

/**
 * A string as Go's `encoding/json` writes it (json.Marshal): `<`, `>`, `&`, U+2028 and U+2029 as `\u00XX`-style
 * escapes; `\n`, `\r`, `\t` short; other control characters as `\u00XX`.
 */
export function goJsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) {
      out += `\\u${c.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}

/** Zero-padded lowercase hex of a 64-bit value, as Go's `%016x` (negative int64s as their two's complement). */
export function hex16(v: bigint): string {
  return BigInt.asUintN(64, v).toString(16).padStart(16, '0');
}

/** Lowercase hex without padding, as Go's `%x` of a uint64 (and etcd's `types.ID.String()`). */
export function hexId(v: bigint): string {
  return BigInt.asUintN(64, v).toString(16);
}

/** Go's `%16x`: hex right-aligned in 16 columns with spaces (etcdctl's member add/remove lines use it). */
export function hexPad16(v: bigint): string {
  return hexId(v).padStart(16, ' ');
}

/** etcdctl's `--hex` form of bytes: every byte as `\xNN`. */
export function hexEscaped(b: Uint8Array): string {
  let out = '';
  for (const x of b) out += `\\x${HEX[x >> 4]}${HEX[x & 15]}`;
  return out;
}

/**
 * Go's `strconv.Unquote` for a double-quoted or back-quoted literal, as bytes (a `\xNN` escape may produce any
 * byte). Returns undefined for a malformed literal.
 */
export function goUnquote(lit: string): Buffer | undefined {
  if (lit.length < 2) return undefined;
  const q = lit[0];
  if (q === '`') {
    if (lit[lit.length - 1] !== '`' || lit.slice(1, -1).includes('`')) return undefined;
    return Buffer.from(lit.slice(1, -1).replace(/\r/g, ''), 'utf8');
  }
  if (q !== '"' || lit[lit.length - 1] !== '"') return undefined;
  const body = lit.slice(1, -1);
  const out: number[] = [];
  const pushText = (t: string): void => {
    for (const b of Buffer.from(t, 'utf8')) out.push(b);
  };
  for (let i = 0; i < body.length; ) {
    const c = body[i]!;
    if (c === '"' || c === '\n') return undefined;
    if (c !== '\\') {
      const cp = body.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      pushText(ch);
      i += ch.length;
      continue;
    }
    const e = body[i + 1];
    i += 2;
    const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34 };
    if (e !== undefined && simple[e] !== undefined) {
      out.push(simple[e]!);
      continue;
    }
    const hexDigits = (n: number): number | undefined => {
      const h = body.slice(i, i + n);
      if (h.length !== n || !/^[0-9a-fA-F]+$/.test(h)) return undefined;
      i += n;
      return parseInt(h, 16);
    };
    if (e === 'x') {
      const v = hexDigits(2);
      if (v === undefined) return undefined;
      out.push(v);
    } else if (e === 'u' || e === 'U') {
      const v = hexDigits(e === 'u' ? 4 : 8);
      if (v === undefined || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return undefined;
      pushText(String.fromCodePoint(v));
    } else if (e !== undefined && e >= '0' && e <= '7') {
      const o = body.slice(i - 1, i + 2);
      if (!/^[0-7]{3}$/.test(o) || parseInt(o, 8) > 255) return undefined;
      i += 2;
      out.push(parseInt(o, 8));
    } else return undefined;
  }
  return Buffer.from(out);
}
