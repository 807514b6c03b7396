/**
 * latchctl's pieces that reproduce Go and pflag/cobra behaviour, checked against values printed by Go itself
 * (fmt %q, time.Duration, encoding/json, strconv, time.ParseDuration, %.Nf) and by etcdctl (tables, help).
 * These run in-process: no servers.
 */
import { describe, expect, test } from 'vitest';
import { findCommand } from '../../packages/cli/src/command.js';
import { FlagSet, parseCsvLine, parseGoDuration, parseGoInt, type FlagSpec } from '../../packages/cli/src/flags.js';
import { goDuration, goFixed, goJsonString, goQuote, goUnquote, hexPad16, humanizeBytes } from '../../packages/cli/src/go-format.js';
import { rootCommand, run } from '../../packages/cli/src/main.js';
import { renderTable } from '../../packages/cli/src/printers/table.js';
import { argify, parseCompare } from '../../packages/cli/src/commands/txn.js';

describe('latchctl Go formatting', () => {
  test('go format - %q quoting as fmt prints it', () => {
    const cases: Array<[string | Uint8Array, string]> = [
      ['a"b', '"a\\"b"'],
      ['tab\there', '"tab\\there"'],
      ['\x00\x7f', '"\\x00\\x7f"'],
      ['é ü', '"é ü"'],
      [Uint8Array.of(0xff, 0xfe), '"\\xff\\xfe"'],
      ['\u2028', '"\\u2028"'],
      ['bell\x07', '"bell\\a"'],
      ['emoji 😀', '"emoji 😀"'],
      ['\u200b', '"\\u200b"'],
    ];
    for (const [input, want] of cases) expect(goQuote(input)).toBe(want);
  });

  test('go format - time.Duration strings, JSON string escapes, %.Nf rounding, humanized sizes, %16x', () => {
    const durations: Array<[bigint, string]> = [
      [0n, '0s'],
      [850n, '850ns'],
      [1_500n, '1.5µs'],
      [725_010n, '725.01µs'],
      [18_903_136n, '18.903136ms'],
      [2_500_000_000n, '2.5s'],
      [90_000_000_000n, '1m30s'],
      [7_200_500_000_000n, '2h0m0.5s'],
      [1_000_000n, '1ms'],
    ];
    for (const [ns, want] of durations) expect(goDuration(ns)).toBe(want);
    expect(goJsonString('a<b>&c\u2028\n\t\x01"')).toBe('"a\\u003cb\\u003e\\u0026c\\u2028\\n\\t\\u0001\\""');
    expect([goFixed(20.5, 0), goFixed(21.5, 0), goFixed(0.5, 0), goFixed(2.25, 1), goFixed(0.066529, 6)]).toEqual(['20', '22', '0', '2.2', '0.066529']);
    expect([humanizeBytes(9), humanizeBytes(20480), humanizeBytes(24576), humanizeBytes(1_500_000), humanizeBytes(25_000)]).toEqual(['9 B', '20 kB', '25 kB', '1.5 MB', '25 kB']);
    expect(hexPad16(0x2943212f5e2cf73n)).toBe(' 2943212f5e2cf73');
  });

  test('go format - Go string literals unquoted to bytes; invalid ones refused', () => {
    expect(goUnquote('"a\\x01\\u00e9\\n"')).toEqual(Buffer.from([0x61, 0x01, 0xc3, 0xa9, 0x0a]));
    expect(goUnquote('`raw \\n`')).toEqual(Buffer.from('raw \\n'));
    expect(goUnquote('"\\q"')).toBeUndefined();
    expect(goUnquote('"open')).toBeUndefined();
  });
});

describe('latchctl flags', () => {
  const specs: FlagSpec[] = [
    { name: 'limit', type: 'int', default: '0', usage: '' },
    { name: 'prefix', type: 'bool', default: 'false', usage: '' },
    { name: 'write-out', short: 'w', type: 'string', default: 'simple', usage: '' },
    { name: 'interactive', short: 'i', type: 'bool', default: 'false', usage: '' },
    { name: 'endpoints', type: 'stringSlice', default: '[127.0.0.1:2379]', usage: '' },
    { name: 'dial-timeout', type: 'duration', default: '2s', usage: '' },
  ];

  test('flags - pflag parsing: interspersed flags, =, shorthand forms, bools, --, slices, durations', () => {
    const f = new FlagSet(specs);
    const r = f.parse(['a', '--limit', '-5', '-wjson', '--prefix', 'b', '-i', '--endpoints=x,y', '--endpoints', 'z', '--dial-timeout=1m30s', '--', '--prefix', 'c']);
    expect(r).toEqual({ args: ['a', 'b', '--prefix', 'c'], dashAt: 2 });
    expect([f.int('limit'), f.string('write-out'), f.bool('prefix'), f.bool('interactive'), f.strings('endpoints'), f.durationMs('dial-timeout')]).toEqual([
      -5n,
      'json',
      true,
      true,
      ['x', 'y', 'z'],
      90_000,
    ]);
    const g = new FlagSet(specs);
    g.parse(['-w=fields', '--prefix=false', '-iw', 'table']);
    expect([g.string('write-out'), g.bool('prefix'), g.bool('interactive'), g.strings('endpoints')]).toEqual(['table', false, true, ['127.0.0.1:2379']]);
  });

  test('flags - errors worded as pflag words them', () => {
    const err = (args: string[]): string => {
      try {
        new FlagSet(specs).parse(args);
        return 'no error';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(err(['--bogus'])).toBe('unknown flag: --bogus');
    expect(err(['-x'])).toBe("unknown shorthand flag: 'x' in -x");
    expect(err(['--limit'])).toBe('flag needs an argument: --limit');
    expect(err(['-w'])).toBe("flag needs an argument: 'w' in -w");
    expect(err(['--limit=abc'])).toBe('invalid argument "abc" for "--limit" flag: strconv.ParseInt: parsing "abc": invalid syntax');
    expect(err(['--prefix=yes'])).toBe('invalid argument "yes" for "--prefix" flag: strconv.ParseBool: parsing "yes": invalid syntax');
    expect(err(['--dial-timeout=abc'])).toBe('invalid argument "abc" for "--dial-timeout" flag: time: invalid duration "abc"');
    expect(err(['-w', 'json', '--limit', '1'])).toBe('no error');
  });

  test('flags - Go integer and duration parsing, CSV lists', () => {
    const int = (s: string): string => {
      try {
        return parseGoInt(s, 0, 64).toString();
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(['0x10', '0o17', '017', '1_000', '-0x8000000000000000', '+5', '0b101'].map(int)).toEqual(['16', '15', '15', '1000', '-9223372036854775808', '5', '5']);
    expect(int('9223372036854775808')).toBe('strconv.ParseInt: parsing "9223372036854775808": value out of range');
    expect(int('_1')).toBe('strconv.ParseInt: parsing "_1": invalid syntax');
    expect(parseGoInt('7fffffffffffffff', 16, 64)).toBe(9223372036854775807n);
    const dur = (s: string): string => {
      try {
        return parseGoDuration(s).toString();
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(['1.5s', '1m30s', '500ms', '-2h', '.5s', '1.s', '0'].map(dur)).toEqual(['1500000000', '90000000000', '500000000', '-7200000000000', '500000000', '1000000000', '0']);
    expect(['abc', '5', '5x'].map(dur)).toEqual(['time: invalid duration "abc"', 'time: missing unit in duration "5"', 'time: unknown unit "x" in duration "5x"']);
    expect(parseCsvLine('a,"b,c",d')).toEqual(['a', 'b,c', 'd']);
  });

  test('flags - cobra command lookup: prefixes, flags before the command, an unknown flag swallowing a word', () => {
    const names = (argv: string[]): string[] => findCommand(rootCommand, argv).path.slice(1).map((c) => c.name);
    expect(names(['mem', 'li'])).toEqual(['member', 'list']);
    expect(names(['--endpoints', 'x', '-w', 'json', 'lease', 'gr', '10'])).toEqual(['lease', 'grant']);
    expect(names(['l'])).toEqual([]); // ambiguous: lease, lock
    expect(names(['--bogus', 'get', 'foo'])).toEqual([]);
    expect(names(['--hex', 'get', 'foo'])).toEqual(['get']);
  });
});

describe('latchctl tables and txn syntax', () => {
  test('table - tablewriter layout: centred upper-case header, right-aligned cells, wrapping of long cells with spaces', () => {
    expect(renderTable(['endpoint', 'hash'], [['127.0.0.1:23792', '295823171']])).toBe(
      [
        '+-----------------+-----------+',
        '|    ENDPOINT     |   HASH    |',
        '+-----------------+-----------+',
        '| 127.0.0.1:23792 | 295823171 |',
        '+-----------------+-----------+',
        '',
      ].join('\n'),
    );
    // Printed by Go's tablewriter with the same settings: a wrapped cell takes the full 30 columns, and the
    // missing lines of shorter cells are two spaces wide (tablewriter's own misalignment, kept).
    expect(renderTable(['endpoint', 'errors', 'x'], [['127.0.0.1:2379', 'a b c d e f g h i j k l m n o p q r s t u v w x y z', '1']])).toBe(
      [
        '+----------------+--------------------------------+---+',
        '|    ENDPOINT    |             ERRORS             | X |',
        '+----------------+--------------------------------+---+',
        '| 127.0.0.1:2379 |  a b c d e f g h i j k l m n o | 1 |',
        '|                |          p q r s t u v w x y z |    |',
        '+----------------+--------------------------------+---+',
        '',
      ].join('\n'),
    );
    expect(renderTable(['errors'], [['alarm:NOSPACE, memberID:12345678, alarm:CORRUPT']]).split('\n').slice(3, 6)).toEqual([
      '|                 alarm:NOSPACE, |',
      '|             memberID:12345678, |',
      '|                  alarm:CORRUPT |',
    ]);
  });

  test('txn syntax - argify and compares as etcdctl reads them; malformed lines refused with etcdctl messages', () => {
    expect(argify('put k "two words" --prev-kv')).toEqual(['put', 'k', 'two words', '--prev-kv']);
    expect(argify("put k 'single quoted'")).toEqual(['put', 'k', 'single quoted']);
    expect(parseCompare('create("k") = "0"')).toEqual({ key: Buffer.from('k'), result: 0, target: 1, createRevision: 0n });
    expect(parseCompare('value("k") != "v"')).toMatchObject({ result: 3, target: 3, value: Buffer.from('v') });
    expect(() => parseCompare('value("k" = "v"')).toThrow('malformed comparison: value("k" = "v"; got value("k")  ""'); // as etcdctl prints it
    expect(() => parseCompare('size("k") = "1"')).toThrow('malformed comparison: size("k") = "1" (unknown target size)');
  });

  test('main - a command line runs in-process with the output captured; version and help need no server', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string | Uint8Array) => void out.push(typeof s === 'string' ? s : Buffer.from(s).toString()), err: (s: string) => void err.push(s) };
    expect(await run(['version'], io, {})).toBe(0);
    expect(out.join('')).toMatch(/^latchctl version: \d+\.\d+\.\d+\nAPI version: 3\.4\n$/);
    out.length = 0;
    expect(await run(['help', 'lease', 'grant'], io, {})).toBe(0);
    expect(out.join('')).toMatch(/^NAME:\n\tlease grant - Creates leases\n/);
    expect(await run(['get'], io, {})).toBe(128);
    expect(err.join('')).toBe('Error: get command needs one argument as key and an optional argument as range_end\n');
  });
});
