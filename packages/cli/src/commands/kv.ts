/**
 * `get`, `put`, `del` and `compaction`, with etcdctl 3.4's flags, argument checks (and their exact messages and
 * exit codes), requests and output. The request builders are shared with `txn`, whose operation lines use the
 * same syntax.
 */
import {
  KVService,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type DeleteRangeRequest,
  type Init,
  type PutRequest,
  type RangeRequest,
} from '@latchkey/proto';
import type { CommandSpec } from '../command.js';
import type { Context } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { type FlagSet, type FlagSpec, parseGoInt } from '../flags.js';
import { SimplePrinter } from '../printers/index.js';
import { bytes, keyRange } from '../keys.js';
import { unary } from './common.js';

export const GET_FLAGS: FlagSpec[] = [
  { name: 'consistency', type: 'string', default: 'l', usage: 'Linearizable(l) or Serializable(s)' },
  { name: 'order', type: 'string', default: '', usage: 'Order of results; ASCEND or DESCEND (ASCEND by default)' },
  { name: 'sort-by', type: 'string', default: '', usage: 'Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION' },
  { name: 'limit', type: 'int', default: '0', usage: 'Maximum number of results' },
  { name: 'prefix', type: 'bool', default: 'false', usage: 'Get keys with matching prefix' },
  { name: 'from-key', type: 'bool', default: 'false', usage: 'Get keys that are greater than or equal to the given key using byte compare' },
  { name: 'rev', type: 'int', default: '0', usage: 'Specify the kv revision' },
  { name: 'keys-only', type: 'bool', default: 'false', usage: 'Get only the keys' },
  { name: 'print-value-only', type: 'bool', default: 'false', usage: 'Only write values when using the "simple" output format' },
];

export const PUT_FLAGS: FlagSpec[] = [
  { name: 'lease', type: 'string', default: '0', usage: 'lease ID (in hexadecimal) to attach to the key' },
  { name: 'prev-kv', type: 'bool', default: 'false', usage: 'return the previous key-value pair before modification' },
  { name: 'ignore-value', type: 'bool', default: 'false', usage: 'updates the key using its current value' },
  { name: 'ignore-lease', type: 'bool', default: 'false', usage: 'updates the key using its current lease' },
];

export const DEL_FLAGS: FlagSpec[] = [
  { name: 'prefix', type: 'bool', default: 'false', usage: 'delete keys with matching prefix' },
  { name: 'prev-kv', type: 'bool', default: 'false', usage: 'return deleted key-value pairs' },
  { name: 'from-key', type: 'bool', default: 'false', usage: 'delete keys that are greater than or equal to the given key using byte compare' },
];

const SORT_TARGETS: Record<string, RangeRequest_SortTarget> = {
  CREATE: RangeRequest_SortTarget.CREATE,
  KEY: RangeRequest_SortTarget.KEY,
  MODIFY: RangeRequest_SortTarget.MOD,
  VALUE: RangeRequest_SortTarget.VALUE,
  VERSION: RangeRequest_SortTarget.VERSION,
};

/** The Range request of `get` (etcdctl's getGetOp): argument checks first, then the clientv3 options. */
export function rangeRequestFromArgs(flags: FlagSet, args: readonly string[]): Init<RangeRequest> {
  if (args.length === 0) throw new CliError(ExitCode.BadArgs, 'get command needs one argument as key and an optional argument as range_end');
  const prefix = flags.bool('prefix');
  const fromKey = flags.bool('from-key');
  if (prefix && fromKey) throw new CliError(ExitCode.BadArgs, '`--prefix` and `--from-key` cannot be set at the same time, choose one');
  const consistency = flags.string('consistency');
  if (consistency !== 's' && consistency !== 'l') throw new CliError(ExitCode.BadFeature, `unknown consistency flag ${JSON.stringify(consistency)}`);
  if (args.length > 1 && (prefix || fromKey)) {
    throw new CliError(ExitCode.BadArgs, 'too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
  }
  const rev = flags.int('rev');
  const order = flags.string('order').toUpperCase();
  let sortOrder = RangeRequest_SortOrder.NONE;
  if (order === 'ASCEND') sortOrder = RangeRequest_SortOrder.ASCEND;
  else if (order === 'DESCEND') sortOrder = RangeRequest_SortOrder.DESCEND;
  else if (order !== '') throw new CliError(ExitCode.BadFeature, `bad sort order ${flags.string('order')}`);
  const target = flags.string('sort-by').toUpperCase();
  let sortTarget = RangeRequest_SortTarget.KEY;
  if (target !== '') {
    const t = SORT_TARGETS[target];
    if (t === undefined) throw new CliError(ExitCode.BadFeature, `bad sort target ${flags.string('sort-by')}`);
    sortTarget = t;
  }
  // clientv3.WithSort: ascending by key is the server's default order, so it is sent as "no sort".
  if (sortTarget === RangeRequest_SortTarget.KEY && sortOrder === RangeRequest_SortOrder.ASCEND) sortOrder = RangeRequest_SortOrder.NONE;
  const { key, rangeEnd } = keyRange(args[0]!, args[1], { prefix, fromKey });
  return {
    key,
    rangeEnd,
    limit: flags.int('limit'),
    revision: rev > 0n ? rev : 0n,
    sortOrder,
    sortTarget,
    serializable: consistency === 's',
    keysOnly: flags.bool('keys-only'),
  };
}

/** The Put request of `put` (etcdctl's getPutOp); the value may come from stdin. */
export async function putRequestFromArgs(flags: FlagSet, args: readonly string[], stdin: () => Promise<Uint8Array>): Promise<Init<PutRequest>> {
  const usage = 'put command needs 1 argument and input from stdin or 2 arguments';
  if (args.length === 0) throw new CliError(ExitCode.BadArgs, usage);
  const ignoreValue = flags.bool('ignore-value');
  if (ignoreValue && args.length > 1) throw new CliError(ExitCode.BadArgs, "put command needs only 1 argument when 'ignore-value' is set");
  let value: Uint8Array = new Uint8Array(0);
  if (!ignoreValue) {
    if (args.length > 1) value = bytes(args[1]!);
    else {
      value = await stdin();
      if (value.length === 0) throw new CliError(ExitCode.BadArgs, usage);
    }
  }
  let lease: bigint;
  try {
    lease = parseGoInt(flags.string('lease'), 16, 64);
  } catch (err) {
    throw new CliError(ExitCode.BadArgs, `bad lease ID (${(err as Error).message}), expecting ID in Hex`);
  }
  return {
    key: bytes(args[0]!),
    value,
    lease,
    prevKv: flags.bool('prev-kv'),
    ignoreValue,
    ignoreLease: flags.bool('ignore-lease'),
  };
}

/** The DeleteRange request of `del` (etcdctl's getDelOp). */
export function deleteRequestFromArgs(flags: FlagSet, args: readonly string[]): Init<DeleteRangeRequest> {
  if (args.length === 0 || args.length > 2) throw new CliError(ExitCode.BadArgs, 'del command needs one argument as key and an optional argument as range_end');
  const prefix = flags.bool('prefix');
  const fromKey = flags.bool('from-key');
  if (prefix && fromKey) throw new CliError(ExitCode.BadArgs, '`--prefix` and `--from-key` cannot be set at the same time, choose one');
  if (args.length > 1 && (prefix || fromKey)) {
    throw new CliError(ExitCode.BadArgs, 'too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
  }
  const { key, rangeEnd } = keyRange(args[0]!, args[1], { prefix, fromKey });
  return { key, rangeEnd, prevKv: flags.bool('prev-kv') };
}

export const getCommand: CommandSpec = {
  name: 'get',
  use: 'get [options] <key> [range_end]',
  short: 'Gets the key or a range of keys',
  flags: GET_FLAGS,
  async run(ctx) {
    const req = rangeRequestFromArgs(ctx.flags, ctx.args);
    const client = await ctx.client();
    const resp = await unary(ctx, client, KVService.Range, req, { idempotent: true });
    const printer = ctx.printer;
    if (ctx.flags.bool('print-value-only')) {
      if (!(printer instanceof SimplePrinter)) throw new CliError(ExitCode.BadArgs, 'print-value-only is only for `--write-out=simple`');
      printer.valueOnly = true;
    }
    printer.get(resp);
  },
};

export const putCommand: CommandSpec = {
  name: 'put',
  use: 'put [options] <key> <value> (<value> can also be given from stdin)',
  short: 'Puts the given key into the store',
  long: `Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command reads the value from standard input.`,
  flags: PUT_FLAGS,
  async run(ctx) {
    const req = await putRequestFromArgs(ctx.flags, ctx.args, () => ctx.lines.rest());
    const resp = await unary(ctx, await ctx.client(), KVService.Put, req);
    ctx.printer.put(resp);
  },
};

export const delCommand: CommandSpec = {
  name: 'del',
  use: 'del [options] <key> [range_end]',
  short: 'Removes the specified key or range of keys [key, range_end)',
  flags: DEL_FLAGS,
  async run(ctx) {
    const req = deleteRequestFromArgs(ctx.flags, ctx.args);
    const resp = await unary(ctx, await ctx.client(), KVService.DeleteRange, req);
    ctx.printer.del(resp);
  },
};

export const compactionCommand: CommandSpec = {
  name: 'compaction',
  use: 'compaction [options] <revision>',
  short: 'Compacts the event history in etcd',
  flags: [{ name: 'physical', type: 'bool', default: 'false', usage: "'true' to wait for compaction to physically remove all old revisions" }],
  async run(ctx: Context) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'compaction command needs 1 argument');
    let rev: bigint;
    try {
      rev = parseGoInt(ctx.args[0]!, 10, 64);
    } catch (err) {
      throw new CliError(ExitCode.Error, (err as Error).message);
    }
    const client = await ctx.client();
    await unary(ctx, client, KVService.Compact, { revision: rev, physical: ctx.flags.bool('physical') });
    ctx.io.out(`compacted revision ${rev}\n`);
  },
};
