/**
 * `txn [-i]`: a transaction read from stdin in etcdctl's format — compares one per line, a blank line, the success
 * operations, a blank line, the failure operations, a blank line. With `-i` each section is announced with a
 * prompt (`compares:`, `success requests (get, put, del):`, `failure requests (get, put, del):`) and the lines are
 * read as they are typed.
 *
 * Compares: `value("k") = "v"`, `create("k") > "0"`, `mod("k") < "5"`, `version("k") != "1"` (also `val`, `c`,
 * `m`, `ver`), and `lease("k") = "<hex id>"` (etcdctl 3.4 panics on lease compares; latchctl reads them as 3.5
 * does). Operations are `get`/`put`/`del` command lines with their own flags (not the global ones).
 * Input ending before the last blank line is `Error: EOF`, exit 3, as in etcdctl.
 */
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  KVService,
  type Compare,
  type Init,
  type RequestOp,
} from '@latchkey/proto';
import { type CommandSpec, findChild } from '../command.js';
import type { Context } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { FlagSet, parseGoInt } from '../flags.js';
import { goQuote, goUnquote } from '../go-format.js';
import { LineReader } from '../io.js';
import { unary } from './common.js';
import { DEL_FLAGS, deleteRequestFromArgs, GET_FLAGS, PUT_FLAGS, putRequestFromArgs, rangeRequestFromArgs } from './kv.js';

export const txnCommand: CommandSpec = {
  name: 'txn',
  use: 'txn [options]',
  short: 'Txn processes all the requests in one transaction',
  flags: [{ name: 'interactive', short: 'i', type: 'bool', default: 'false', usage: 'Input transaction in interactive mode' }],
  async run(ctx: Context) {
    if (ctx.args.length !== 0) throw new CliError(ExitCode.BadArgs, 'txn command does not accept argument');
    const interactive = ctx.flags.bool('interactive');
    const client = await ctx.client();
    const reader = ctx.lines;
    try {
      const prompt = (s: string): void => {
        if (interactive) ctx.io.out(`${s}\n`);
      };
      prompt('compares:');
      const compare = await readSection(reader, parseCompare);
      prompt('success requests (get, put, del):');
      const success = await readSection(reader, parseOperation);
      prompt('failure requests (get, put, del):');
      const failure = await readSection(reader, parseOperation);
      reader.close();
      const resp = await unary(ctx, client, KVService.Txn, { compare, success, failure });
      ctx.printer.txn(resp);
    } finally {
      reader.close();
    }
  },
};

/** Lines until a blank one, each parsed; EOF before the blank line is etcdctl's `Error: EOF` (exit 3). */
async function readSection<T>(reader: LineReader, parse: (line: string) => Promise<T> | T): Promise<T[]> {
  const items: T[] = [];
  for (;;) {
    const l = await reader.next();
    if (l.eof) throw new CliError(ExitCode.InvalidInput, 'EOF');
    const line = l.text.trim();
    if (line === '') return items;
    items.push(await parse(line));
  }
}

const RESULTS: Record<string, Compare_CompareResult> = {
  '=': Compare_CompareResult.EQUAL,
  '==': Compare_CompareResult.EQUAL,
  '!=': Compare_CompareResult.NOT_EQUAL,
  '>': Compare_CompareResult.GREATER,
  '<': Compare_CompareResult.LESS,
};

/** One compare line: `<target>("<key>") <op> "<value>"` (etcdctl's parseCompare, errors worded alike). */
export function parseCompare(line: string): Init<Compare> {
  const paren = line.indexOf('(');
  if (paren < 0) throw new CliError(ExitCode.InvalidInput, `malformed comparison: ${line}`);
  const target = line.slice(0, paren);
  const scan = scanCompare(line.slice(paren + 1));
  if (scan.n !== 3) {
    throw new CliError(
      ExitCode.InvalidInput,
      `malformed comparison: ${line}; got ${target}(${goQuote(scan.key)}) ${scan.op} ${goQuote(scan.value)}`,
    );
  }
  const result = RESULTS[scan.op];
  if (result === undefined) throw new CliError(ExitCode.InvalidInput, `malformed comparison: ${line} (unknown operator ${scan.op})`);
  const key = scan.key;
  const int = (base: number): bigint => {
    try {
      return parseGoInt(Buffer.from(scan.value).toString('utf8'), base, 64);
    } catch {
      throw new CliError(ExitCode.InvalidInput, `invalid txn compare request: ${line}`);
    }
  };
  switch (target) {
    case 'ver':
    case 'version':
      return { key, result, target: Compare_CompareTarget.VERSION, version: int(10) };
    case 'c':
    case 'create':
      return { key, result, target: Compare_CompareTarget.CREATE, createRevision: int(10) };
    case 'm':
    case 'mod':
      return { key, result, target: Compare_CompareTarget.MOD, modRevision: int(10) };
    case 'val':
    case 'value':
      return { key, result, target: Compare_CompareTarget.VALUE, value: scan.value };
    case 'lease':
      return { key, result, target: Compare_CompareTarget.LEASE, lease: int(16) };
    default:
      throw new CliError(ExitCode.InvalidInput, `malformed comparison: ${line} (unknown target ${target})`);
  }
}

/**
 * Go's `fmt.Sscanf(rest, "%q) %s %q", &key, &op, &val)`: how many of the three items were read, and their
 * values so far (an unread one is empty).
 */
function scanCompare(s: string): { n: number; key: Uint8Array; op: string; value: Uint8Array } {
  const res: { n: number; key: Uint8Array; op: string; value: Uint8Array } = { n: 0, key: new Uint8Array(0), op: '', value: new Uint8Array(0) };
  let i = 0;
  const skipSpaces = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\r' || s[i] === '\n')) i++;
  };
  const quoted = (): Buffer | undefined => {
    skipSpaces();
    const start = i;
    if (s[i] === '`') {
      const end = s.indexOf('`', i + 1);
      if (end < 0) return undefined;
      i = end + 1;
    } else if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) return undefined;
        if (s[i] === '\\') i += 2;
        else if (s[i] === '"') {
          i++;
          break;
        } else i++;
      }
    } else return undefined;
    return goUnquote(s.slice(start, i));
  };
  const key = quoted();
  if (key === undefined) return res;
  res.key = key;
  res.n = 1;
  if (s[i] !== ')') return res;
  i++;
  skipSpaces();
  const opStart = i;
  while (i < s.length && !/\s/.test(s[i]!)) i++;
  if (i === opStart) return res;
  res.op = s.slice(opStart, i);
  res.n = 2;
  const value = quoted();
  if (value === undefined) return res;
  res.value = value;
  res.n = 3;
  return res;
}

/**
 * etcdctl's argify: splits a line into words; `"double quoted"` words are Go string literals, `'single quoted'`
 * words are taken literally (etcdctl 3.4 mis-slices these; latchctl strips the quotes).
 */
export function argify(s: string): string[] {
  const words = s.match(/"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?/g) ?? [];
  return words.map((w) => {
    if (w.startsWith("'")) return w.slice(1, -1);
    if (w.startsWith('"')) {
      const v = goUnquote(w);
      if (v === undefined) throw new CliError(ExitCode.InvalidInput, 'invalid syntax');
      return v.toString('utf8');
    }
    return w;
  });
}

const OPERATIONS = {
  name: 'txn-op',
  use: '',
  short: '',
  subcommands: [
    { name: 'put', use: '', short: '', flags: PUT_FLAGS },
    { name: 'get', use: '', short: '', flags: GET_FLAGS },
    { name: 'del', use: '', short: '', flags: DEL_FLAGS },
  ],
} satisfies CommandSpec;

/** One operation line: a `get`, `put` or `del` command with its flags. */
export async function parseOperation(line: string): Promise<Init<RequestOp>> {
  const args = argify(line);
  if (args.length < 2) throw new CliError(ExitCode.InvalidInput, `invalid txn compare request: ${line}`);
  const invalid = (): CliError => new CliError(ExitCode.InvalidInput, `invalid txn request: ${line}`);
  const cmd = findChild(OPERATIONS, args[0]!);
  if (!cmd) throw invalid();
  const flags = new FlagSet(cmd.flags ?? []);
  let parsed: { args: string[] };
  try {
    parsed = flags.parse(args.slice(1));
  } catch {
    throw invalid();
  }
  switch (cmd.name) {
    case 'put':
      // etcdctl's `put <key>` would read the value from stdin, which the txn reader has already consumed.
      return { requestPut: await putRequestFromArgs(flags, parsed.args, async () => new Uint8Array(0)) };
    case 'get':
      return { requestRange: rangeRequestFromArgs(flags, parsed.args) };
    default:
      return { requestDeleteRange: deleteRequestFromArgs(flags, parsed.args) };
  }
}

