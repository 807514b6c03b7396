/**
 * Command-line flags with the semantics of spf13/pflag as etcdctl's cobra commands use them, so that every
 * command line etcdctl accepts means the same to latchctl and every one it rejects fails with the same message:
 *
 *  - `--name=value`, `--name value` (the next argument is taken even if it starts with `-`), bools as `--name`
 *    or `--name=false` (never `--name false`); shorthands `-w json`, `-wjson`, `-w=json`, grouped bools `-il`;
 *  - flags anywhere among the positional arguments; `--` ends the flags;
 *  - integers parsed like Go's `strconv.ParseInt(s, 0, 64)` (`0x10`, `0o17`, `1_000`), durations like
 *    `time.ParseDuration` (`5s`, `1m30s`, `500ms`), string lists like pflag's StringSlice (comma-separated CSV;
 *    the first use replaces the default, later uses append);
 *  - errors worded as pflag words them: `unknown flag: --bogus`, `unknown shorthand flag: 'x' in -x`,
 *    `flag needs an argument: --limit`, `invalid argument "abc" for "--limit" flag: strconv.ParseInt: …`.
 */

export type FlagType = 'bool' | 'string' | 'int' | 'uint' | 'duration' | 'stringSlice';

export interface FlagSpec {
  /** Long name, without dashes. */
  name: string;
  /** One-letter shorthand, without the dash. */
  short?: string;
  type: FlagType;
  /** Default as Go would print it in the usage (`"simple"`, `5s`, `[127.0.0.1:2379]`); also parsed as the default. */
  default: string;
  usage: string;
  /** Not listed in help (latchctl-only test knobs). */
  hidden?: boolean;
}

export type FlagValue = boolean | string | bigint | string[];

/** Parsed flag values of one command line. */
export class FlagSet {
  private readonly values = new Map<string, FlagValue>();
  private readonly changed = new Set<string>();
  private readonly byName = new Map<string, FlagSpec>();
  private readonly byShort = new Map<string, FlagSpec>();

  constructor(readonly specs: readonly FlagSpec[]) {
    for (const s of specs) {
      this.byName.set(s.name, s);
      if (s.short) this.byShort.set(s.short, s);
      this.values.set(s.name, parseDefault(s));
    }
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  spec(name: string): FlagSpec | undefined {
    return this.byName.get(name);
  }

  /** True when the command line (or an environment variable) set the flag. */
  isChanged(name: string): boolean {
    return this.changed.has(name);
  }

  bool(name: string): boolean {
    return this.get(name) as boolean;
  }
  string(name: string): string {
    return this.get(name) as string;
  }
  int(name: string): bigint {
    return this.get(name) as bigint;
  }
  /** Duration flags, in milliseconds (fractions kept). */
  durationMs(name: string): number {
    return Number(this.get(name) as bigint) / 1e6;
  }
  strings(name: string): string[] {
    return this.get(name) as string[];
  }

  private get(name: string): FlagValue {
    const v = this.values.get(name);
    if (v === undefined) throw new Error(`flags: no flag --${name}`);
    return v;
  }

  /** Sets `name` from its text form (pflag's `Set`); throws FlagError with pflag's wording. */
  set(name: string, text: string): void {
    const spec = this.byName.get(name);
    if (!spec) throw new FlagError(`unknown flag: --${name}`);
    let value: FlagValue;
    try {
      value = parseValue(spec.type, text);
    } catch (err) {
      throw new FlagError(`invalid argument ${goQuoted(text)} for ${goQuoted(flagDisplayName(spec))} flag: ${(err as Error).message}`);
    }
    if (spec.type === 'stringSlice' && this.changed.has(name)) value = [...(this.values.get(name) as string[]), ...(value as string[])];
    this.values.set(name, value);
    this.changed.add(name);
  }

  /**
   * Parses `args`: flags anywhere (pflag's interspersed mode) until `--`. Returns the positional arguments and
   * the index among them where `--` stood (-1 if absent), as cobra's `ArgsLenAtDash`.
   */
  parse(args: readonly string[]): { args: string[]; dashAt: number } {
    const positional: string[] = [];
    let dashAt = -1;
    let i = 0;
    while (i < args.length) {
      const a = args[i]!;
      i++;
      if (a === '--') {
        dashAt = positional.length;
        positional.push(...args.slice(i));
        break;
      }
      if (!a.startsWith('-') || a === '-') {
        positional.push(a);
        continue;
      }
      if (a.startsWith('--')) {
        const body = a.slice(2);
        const eq = body.indexOf('=');
        const name = eq >= 0 ? body.slice(0, eq) : body;
        const spec = this.byName.get(name);
        if (!spec) {
          if (name === 'help') throw new HelpRequested();
          throw new FlagError(`unknown flag: --${name}`);
        }
        if (eq >= 0) this.set(name, body.slice(eq + 1));
        else if (spec.type === 'bool') this.set(name, 'true');
        else if (i < args.length) this.set(name, args[i++]!);
        else throw new FlagError(`flag needs an argument: --${name}`);
        continue;
      }
      // Shorthands: -abc, -wjson, -w=json, -w json.
      let rest = a.slice(1);
      while (rest.length > 0) {
        const c = rest[0]!;
        rest = rest.slice(1);
        const spec = this.byShort.get(c);
        if (!spec) {
          if (c === 'h') throw new HelpRequested();
          throw new FlagError(`unknown shorthand flag: '${c}' in ${a}`);
        }
        if (spec.type === 'bool') {
          if (rest.startsWith('=')) {
            this.set(spec.name, rest.slice(1));
            rest = '';
          } else this.set(spec.name, 'true');
          continue;
        }
        if (rest.length > 0) {
          this.set(spec.name, rest.startsWith('=') ? rest.slice(1) : rest);
          rest = '';
        } else if (i < args.length) this.set(spec.name, args[i++]!);
        else throw new FlagError(`flag needs an argument: '${c}' in -${c}`);
      }
    }
    return { args: positional, dashAt };
  }

  /** Flags that take a value (for skipping `--flag value` pairs while looking for a subcommand name). */
  takesValue(nameOrShort: string, short: boolean): boolean {
    const spec = short ? this.byShort.get(nameOrShort) : this.byName.get(nameOrShort);
    return spec !== undefined && spec.type !== 'bool';
  }
}

/** A command line error of pflag's kind (exit 1, as cobra reports it). */
export class FlagError extends Error {
  override name = 'FlagError';
}

/** `-h`/`--help` was given. */
export class HelpRequested extends Error {
  override name = 'HelpRequested';
}

function flagDisplayName(spec: FlagSpec): string {
  return spec.short ? `-${spec.short}, --${spec.name}` : `--${spec.name}`;
}

/** Go's %q for the ASCII-only texts flags carry (the full quoting lives in go-format.ts). */
function goQuoted(s: string): string {
  return JSON.stringify(s);
}

function parseDefault(spec: FlagSpec): FlagValue {
  if (spec.type === 'stringSlice') {
    const inner = spec.default.replace(/^\[/, '').replace(/\]$/, '');
    return inner === '' ? [] : inner.split(',');
  }
  if (spec.type === 'string') return spec.default;
  return parseValue(spec.type, spec.default);
}

function parseValue(type: FlagType, text: string): FlagValue {
  switch (type) {
    case 'bool':
      return parseGoBool(text);
    case 'string':
      return text;
    case 'int':
      return parseGoInt(text, 0, 64);
    case 'uint':
      return parseGoUint(text, 0, 64);
    case 'duration':
      return parseGoDuration(text);
    case 'stringSlice':
      return parseCsvLine(text);
  }
}

/** Go's `strconv.ParseBool`. */
export function parseGoBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new Error(`strconv.ParseBool: parsing ${goQuoted(s)}: invalid syntax`);
}

/**
 * Go's `strconv.ParseInt(s, base, bits)`: an optional sign, then digits of `base` (base 0: `0x`, `0o`, `0b`
 * or a leading `0` choose the base, and `_` may separate digits). Errors are worded as Go's.
 */
export function parseGoInt(s: string, base: number, bits: number): bigint {
  const fail = (what: string): Error => new Error(`strconv.ParseInt: parsing ${goQuoted(s)}: ${what}`);
  if (s === '') throw fail('invalid syntax');
  let body = s;
  let neg = false;
  if (body[0] === '+' || body[0] === '-') {
    neg = body[0] === '-';
    body = body.slice(1);
  }
  const magnitude = parseUnsigned(body, base, () => fail('invalid syntax'));
  const limit = 1n << BigInt(bits - 1);
  if (!neg && magnitude >= limit) throw fail('value out of range');
  if (neg && magnitude > limit) throw fail('value out of range');
  return neg ? -magnitude : magnitude;
}

/** Go's `strconv.ParseUint(s, base, bits)` (no sign allowed). */
export function parseGoUint(s: string, base: number, bits: number): bigint {
  const fail = (what: string): Error => new Error(`strconv.ParseUint: parsing ${goQuoted(s)}: ${what}`);
  if (s === '') throw fail('invalid syntax');
  const v = parseUnsigned(s, base, () => fail('invalid syntax'));
  if (v >= 1n << BigInt(bits)) throw fail('value out of range');
  return v;
}

function parseUnsigned(body: string, base: number, invalid: () => Error): bigint {
  let b = base;
  let digits = body;
  let underscores = false;
  if (b === 0) {
    b = 10;
    underscores = true;
    const lower = digits.toLowerCase();
    if (lower.startsWith('0x')) {
      b = 16;
      digits = digits.slice(2);
    } else if (lower.startsWith('0o')) {
      b = 8;
      digits = digits.slice(2);
    } else if (lower.startsWith('0b')) {
      b = 2;
      digits = digits.slice(2);
    } else if (digits.length > 1 && digits[0] === '0') {
      b = 8;
      digits = digits.slice(1);
    }
  }
  if (underscores) {
    // Go allows underscores only between digits (base prefix counts as a digit).
    if (/__|_$/.test(digits) || (digits.startsWith('_') && b === 10 && body.startsWith('_'))) throw invalid();
    digits = digits.replace(/_/g, '');
  }
  if (digits === '') throw invalid();
  let v = 0n;
  const bb = BigInt(b);
  for (const ch of digits.toLowerCase()) {
    const d = ch >= '0' && ch <= '9' ? ch.charCodeAt(0) - 48 : ch >= 'a' && ch <= 'z' ? ch.charCodeAt(0) - 87 : 99;
    if (d >= b) throw invalid();
    v = v * bb + BigInt(d);
  }
  return v;
}

const DURATION_UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5
  'μs': 1_000n, // U+03BC
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** Go's `time.ParseDuration`, in nanoseconds. */
export function parseGoDuration(s: string): bigint {
  const invalid = (): Error => new Error(`time: invalid duration ${goQuoted(s)}`);
  let rest = s;
  let neg = false;
  if (rest[0] === '-' || rest[0] === '+') {
    neg = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n;
  if (rest === '') throw invalid();
  let total = 0n;
  while (rest !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    const whole = m[1] ?? '';
    const frac = m[2];
    if (whole === '' && (frac === undefined || frac === '')) throw invalid();
    rest = rest.slice(m[0].length);
    const u = /^[^\d.]*/.exec(rest)![0];
    if (u === '') throw new Error(`time: missing unit in duration ${goQuoted(s)}`);
    const unit = DURATION_UNITS[u];
    if (unit === undefined) throw new Error(`time: unknown unit ${goQuoted(u)} in duration ${goQuoted(s)}`);
    rest = rest.slice(u.length);
    let v = BigInt(whole === '' ? '0' : whole) * unit;
    if (frac) v += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    total += v;
  }
  return neg ? -total : total;
}

/** One CSV record as Go's `encoding/csv` reads it (pflag's StringSlice): `a,b`, `"a,b",c`. */
export function parseCsvLine(s: string): string[] {
  if (s === '') return [];
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new Error('parse error on line 1, column ' + (i + 1) + ': extraneous or missing " in quoted-field');
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ',') throw new Error(`parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
    } else {
      while (i < s.length && s[i] !== ',') {
        if (s[i] === '"') throw new Error(`parse error on line 1, column ${i + 1}: bare " in non-quoted-field`);
        field += s[i++];
      }
    }
    out.push(field);
    if (i >= s.length) return out;
    i++; // the comma
    if (i >= s.length) {
      out.push('');
      return out;
    }
  }
}

/** The environment variable that sets a flag: `ETCDCTL_DIAL_TIMEOUT` for `--dial-timeout`. */
export function flagToEnv(prefix: string, name: string): string {
  return `${prefix}_${name.replace(/-/g, '_').toUpperCase()}`;
}
