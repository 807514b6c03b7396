/**
 * `watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]` and `watch -i`, as etcdctl 3.4:
 *
 *  - each event is printed as it arrives (`PUT`/`DELETE`, then the previous key-value with `--prev-kv`, then the
 *    key-value); with a command after `--`, the command runs once per event with ETCD_WATCH_REVISION,
 *    ETCD_WATCH_EVENT_TYPE, ETCD_WATCH_KEY and ETCD_WATCH_VALUE set (Go-quoted, as etcdctl sets them);
 *  - a watcher canceled by the server (a compacted `--rev`) prints `watch was canceled (<reason>)` on stderr and
 *    ends the command with `Error: watch is canceled by the server`, exit 5;
 *  - `-i` reads `watch <key> [flags] [-- cmd]` and `progress` lines from stdin; every watcher shares one stream,
 *    and `progress` prints `progress notify: <rev>` once per watcher; EOF ends it with exit 3;
 *  - ETCDCTL_WATCH_KEY / ETCDCTL_WATCH_RANGE_END give the key and range end.
 *
 * Beyond etcdctl 3.4: `--progress-notify` (3.5's flag: periodic progress notifications from the server) and
 * `--json`, one JSON object per line for scripts:
 * `{"type":"PUT","key":"foo","value":"bar","revision":7,"create_revision":5,"mod_revision":7,"version":2,"lease":"0"}`
 * (keys and values as UTF-8 text, plus `key_base64`/`value_base64` when they are not valid UTF-8; lease IDs as
 * hex; `"prev"` holds the previous key-value with `--prev-kv`), `{"type":"PROGRESS","revision":9}` and
 * `{"type":"CANCELED","reason":"…","compact_revision":3}`.
 */
import { Event_EventType, type Init, type KeyValue, type WatchCreateRequest, type WatchResponse } from '@latchkey/proto';
import type { CommandSpec } from '../command.js';
import type { Context } from '../context.js';
import { CliError, ExitCode, silentExit } from '../errors.js';
import { ExecError, runCommand } from '../exec.js';
import { FlagError, FlagSet, type FlagSpec } from '../flags.js';
import { goQuote, goQuoteSlice, hexId } from '../go-format.js';
import { WatchSession } from '../streams.js';
import { keyRange } from '../keys.js';
import { argify } from './txn.js';

const WATCH_FLAGS: FlagSpec[] = [
  { name: 'interactive', short: 'i', type: 'bool', default: 'false', usage: 'Interactive mode' },
  { name: 'prefix', type: 'bool', default: 'false', usage: 'Watch on a prefix if prefix is set' },
  { name: 'rev', type: 'int', default: '0', usage: 'Revision to start watching' },
  { name: 'prev-kv', type: 'bool', default: 'false', usage: 'get the previous key-value pair before the event happens' },
  { name: 'progress-notify', type: 'bool', default: 'false', usage: 'get periodic watch progress notification from server (latchctl; etcdctl 3.5)' },
  { name: 'json', type: 'bool', default: 'false', usage: 'print one JSON object per event, progress notification or cancellation (latchctl)' },
];

const errBadArgsNum = 'bad number of arguments';
const errBadArgsNumConflictEnv = 'bad number of arguments (found conflicting environment key)';
const errBadArgsNumSeparator = 'bad number of arguments (found separator --, but no commands)';

/** What one watcher is: its key arguments and options (flags of its own line in `-i` mode). */
interface WatchSpec {
  args: string[];
  exec: string[];
  prefix: boolean;
  rev: bigint;
  prevKv: boolean;
  progressNotify: boolean;
  /** `--json` lines instead of the `-w` printer. */
  json: boolean;
}

export const watchCommand: CommandSpec = {
  name: 'watch',
  use: 'watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]',
  short: 'Watches events stream on keys or prefixes',
  flags: WATCH_FLAGS,
  async run(ctx: Context) {
    const envKey = ctx.env['ETCDCTL_WATCH_KEY'] ?? '';
    const envRange = ctx.env['ETCDCTL_WATCH_RANGE_END'] ?? '';
    if (envKey === '' && envRange !== '') {
      throw new CliError(ExitCode.BadArgs, `ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=${JSON.stringify(envRange)}`);
    }
    if (ctx.flags.bool('interactive')) return interactive(ctx, envKey, envRange);

    const spec = commandLineSpec(ctx, envKey, envRange);
    const client = await ctx.client();
    const req = watchRequest(spec);
    const session = new WatchSession(client, ctx.flags.durationMs('dial-timeout'));
    ctx.cleanups.push(() => session.close());
    const show = responsePrinter(ctx, spec);
    await new Promise<void>((resolve, reject) => {
      session.watch(req, {
        async onResponse(r) {
          try {
            await show(r);
          } catch (err) {
            reject(err);
            return;
          }
          if (r.canceled) resolve();
        },
      });
    });
    throw new CliError(ExitCode.Interrupted, 'watch is canceled by the server');
  },
};

/** etcdctl's parseWatchArgs for a command line (non-interactive). */
function commandLineSpec(ctx: Context, envKey: string, envRange: string): WatchSpec {
  // etcdctl looks for `--` in the raw command line after the word "watch".
  const at = ctx.argv.indexOf('watch');
  const raw = at >= 0 ? ctx.argv.slice(at + 1) : [...ctx.argv];
  const sep = raw.indexOf('--');
  if (sep >= 0 && sep === raw.length - 1) throw new CliError(ExitCode.BadArgs, errBadArgsNumSeparator);
  if (sep < 0 && raw.length < 1 && envKey === '') throw new CliError(ExitCode.BadArgs, errBadArgsNum);
  const positional = ctx.dashAt >= 0 ? ctx.args.slice(0, ctx.dashAt) : ctx.args;
  const exec = ctx.dashAt >= 0 ? ctx.args.slice(ctx.dashAt) : [];
  if (envKey !== '' && positional.length > 0) throw new CliError(ExitCode.BadArgs, errBadArgsNumConflictEnv);
  let args = positional;
  if (envKey !== '') args = envRange !== '' ? [envKey, envRange] : [envKey];
  return {
    args,
    exec,
    prefix: ctx.flags.bool('prefix'),
    rev: ctx.flags.int('rev'),
    prevKv: ctx.flags.bool('prev-kv'),
    progressNotify: ctx.flags.bool('progress-notify'),
    json: ctx.flags.bool('json'),
  };
}

/** The create request of a watcher (etcdctl's getWatchChan); throws a plain message on bad arguments. */
function watchRequest(spec: WatchSpec): Init<WatchCreateRequest> {
  if (spec.args.length < 1) throw new CliError(ExitCode.BadArgs, errBadArgsNum);
  if (spec.args.length === 2 && spec.prefix) throw new CliError(ExitCode.BadArgs, '`range_end` and `--prefix` are mutually exclusive');
  // Two arguments are a key and a range end; further ones are ignored, as by etcdctl.
  const { key, rangeEnd } = keyRange(spec.args[0]!, spec.args.length === 2 ? spec.args[1] : undefined, { prefix: spec.prefix });
  return { key, rangeEnd, startRevision: spec.rev, prevKv: spec.prevKv, progressNotify: spec.progressNotify };
}

/** clientv3's WatchResponse.Err() text for a canceled response. */
function cancelText(r: WatchResponse): string {
  if (r.compactRevision !== 0n) return 'etcdserver: mvcc: required revision has been compacted';
  if (r.cancelReason === '') return 'etcdserver: mvcc: required revision is a future revision';
  return r.cancelReason.startsWith('etcdserver: ') ? r.cancelReason : `rpc error: code = FailedPrecondition desc = ${r.cancelReason}`;
}

function isProgressNotify(r: WatchResponse): boolean {
  return r.events.length === 0 && !r.canceled && !r.created && r.compactRevision === 0n && (r.header?.revision ?? 0n) !== 0n;
}

/** The handler printing one watcher's responses (and running its command per event). */
function responsePrinter(ctx: Context, spec: WatchSpec): (r: WatchResponse) => Promise<void> {
  const json = spec.json;
  const printer = json ? undefined : ctx.printer;
  return async (r) => {
    if (json) {
      printJsonLines(ctx, r);
    } else {
      if (r.canceled) ctx.io.err(`watch was canceled (${cancelText(r)})\n`);
      if (isProgressNotify(r)) ctx.io.out(`progress notify: ${r.header?.revision ?? 0n}\n`);
      printer!.watch(r);
    }
    if (spec.exec.length === 0) return;
    for (const ev of r.events) {
      const kv = ev.kv!;
      const env = {
        ...ctx.env,
        ETCD_WATCH_REVISION: String(r.header?.revision ?? 0n),
        ETCD_WATCH_EVENT_TYPE: goQuote(ev.type === Event_EventType.DELETE ? 'DELETE' : 'PUT'),
        ETCD_WATCH_KEY: goQuote(kv.key),
        ETCD_WATCH_VALUE: goQuote(kv.value),
      };
      try {
        await runCommand(spec.exec, env);
      } catch (err) {
        if (!(err instanceof ExecError)) throw err;
        ctx.io.err(`command ${goQuoteSlice(spec.exec)} error (${err.message})\n`);
        throw silentExit(ExitCode.Error);
      }
    }
  };
}

/** `--json`: one line per event, progress notification or cancellation. */
function printJsonLines(ctx: Context, r: WatchResponse): void {
  const rev = Number(r.header?.revision ?? 0n);
  if (r.canceled) {
    ctx.io.out(`${JSON.stringify({ type: 'CANCELED', reason: cancelText(r), compact_revision: Number(r.compactRevision) })}\n`);
    ctx.io.err(`watch was canceled (${cancelText(r)})\n`);
    return;
  }
  if (isProgressNotify(r)) {
    ctx.io.out(`${JSON.stringify({ type: 'PROGRESS', revision: rev })}\n`);
    return;
  }
  for (const ev of r.events) {
    const line: Record<string, unknown> = { type: ev.type === Event_EventType.DELETE ? 'DELETE' : 'PUT', ...kvFields(ev.kv!), revision: Number(ev.kv!.modRevision) };
    if (ev.prevKv) line['prev'] = kvFields(ev.prevKv);
    ctx.io.out(`${JSON.stringify(line)}\n`);
  }
}

function kvFields(kv: KeyValue): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const text = (name: string, b: Uint8Array): void => {
    const s = Buffer.from(b).toString('utf8');
    o[name] = s;
    if (!Buffer.from(s, 'utf8').equals(Buffer.from(b))) o[`${name}_base64`] = Buffer.from(b).toString('base64');
  };
  text('key', kv.key);
  text('value', kv.value);
  o['create_revision'] = Number(kv.createRevision);
  o['mod_revision'] = Number(kv.modRevision);
  o['version'] = Number(kv.version);
  o['lease'] = hexId(kv.lease);
  return o;
}

/** `watch -i`: watch and progress lines from stdin, all watchers on one stream. */
async function interactive(ctx: Context, envKey: string, envRange: string): Promise<void> {
  const client = await ctx.client();
  const session = new WatchSession(client, ctx.flags.durationMs('dial-timeout'));
  ctx.cleanups.push(() => session.close());
  const reader = ctx.lines;
  ctx.cleanups.push(() => reader.close());
  // A watcher's handler failing (its command failed) ends the whole command, as etcdctl's os.Exit does.
  let failure: unknown;
  let failed: (v: 'failed') => void = () => undefined;
  const failedPromise = new Promise<'failed'>((resolve) => (failed = resolve));
  for (;;) {
    const next = await Promise.race([reader.next(), failedPromise]);
    if (next === 'failed') throw failure;
    if (next.eof) throw new CliError(ExitCode.InvalidInput, 'Error reading watch request line: EOF');
    const l = next.text.replace(/\n$/, '');
    const args = argify(l);
    if (args.length < 1) {
      ctx.io.err(`Invalid command: ${l} (watch and progress supported)\n`);
      continue;
    }
    if (args[0] === 'watch') {
      if (args.length < 2 && envKey === '') {
        ctx.io.err(`Invalid command ${l} (command type or key is not provided)\n`);
        continue;
      }
      const spec = interactiveSpec(args.slice(1), envKey, envRange, ctx.flags.bool('json'));
      let req: Init<WatchCreateRequest>;
      try {
        req = watchRequest(spec);
      } catch (err) {
        ctx.io.err(`Invalid command ${l} (${(err as Error).message})\n`);
        continue;
      }
      const show = responsePrinter(ctx, spec);
      session.watch(req, {
        async onResponse(r) {
          try {
            await show(r);
          } catch (err) {
            failure = err;
            failed('failed');
          }
        },
      });
    } else if (args[0] === 'progress') {
      session.requestProgress();
    } else {
      ctx.io.err(`Invalid command ${l} (only support watch)\n`);
    }
  }
}

/** etcdctl's parseWatchArgs for one `watch …` line of `-i` (the line's own flags; errors end the command, 128). */
function interactiveSpec(watchArgs: string[], envKey: string, envRange: string, json: boolean): WatchSpec {
  const sep = watchArgs.indexOf('--');
  if (sep >= 0 && sep === watchArgs.length - 1) throw new CliError(ExitCode.BadArgs, errBadArgsNumSeparator);
  const flags = new FlagSet(WATCH_FLAGS);
  let parsed: { args: string[]; dashAt: number };
  try {
    parsed = flags.parse(watchArgs);
  } catch (err) {
    throw new CliError(ExitCode.BadArgs, err instanceof FlagError ? err.message : 'bad watch arguments');
  }
  const positional = parsed.dashAt >= 0 ? parsed.args.slice(0, parsed.dashAt) : parsed.args;
  const exec = parsed.dashAt >= 0 ? parsed.args.slice(parsed.dashAt) : [];
  if (sep < 0 && envKey === '' && positional.length < 1) throw new CliError(ExitCode.BadArgs, errBadArgsNum);
  if (sep < 0 && positional.length > 0 && envKey !== '') throw new CliError(ExitCode.BadArgs, errBadArgsNumConflictEnv);
  let args = positional;
  if (envKey !== '') args = [...(envRange !== '' ? [envKey, envRange] : [envKey]), ...positional];
  return {
    args,
    exec,
    prefix: flags.bool('prefix'),
    rev: flags.int('rev'),
    prevKv: flags.bool('prev-kv'),
    progressNotify: flags.bool('progress-notify'),
    json: json || flags.bool('json'),
  };
}
