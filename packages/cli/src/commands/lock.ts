/**
 * `lock <lockname> [exec-command arg1 arg2 ...]` (etcdctl 3.4) and `lock status <lockname>` (latchctl).
 *
 * The lock is the SDK's fair lock, which shares etcd's key layout and algorithm (`<name>/<lease hex>`, lowest
 * create revision holds), so latchctl, `etcdctl lock` and etcd's Go Mutex queue on the same names.
 *
 *  - Without a command: once held, prints the lock key (as `get` would: key line and empty value line) and
 *    holds it until SIGINT/SIGTERM, then releases it and exits 0. If the session's lease is lost it exits 1
 *    (`Error: session expired`).
 *  - With a command: runs it while holding the lock with ETCD_LOCK_KEY (the lock key) and ETCD_LOCK_REV (the
 *    hold's fencing token: the key's create revision) in its environment, then releases the lock; a failing
 *    command gives `Error: exit status N`, exit 1.
 *  - A signal while waiting gives up the place in the queue (`Error: context canceled`, exit 1).
 *  - Unlike etcdctl, the session's lease is revoked on the way out instead of being left to expire.
 *
 * `lock status <name>` lists the holder (with its fencing token) and the waiters in the order they will get
 * the lock, with each lease's remaining TTL. `lock status` alone, or with a command after `--`, keeps
 * etcdctl's meaning (a lock named "status").
 */
import { KVService } from '@latchkey/proto';
import type { CommandSpec } from '../command.js';
import type { Context } from '../context.js';
import { CliError, describeError, ExitCode, toCliError } from '../errors.js';
import { ExecError, runCommand } from '../exec.js';
import type { QueueStatus } from '../printers/index.js';
import { unary, untilSignal } from './common.js';

export const lockCommand: CommandSpec = {
  name: 'lock',
  use: 'lock <lockname> [exec-command arg1 arg2 ...] | lock status <lockname>',
  short: 'Acquires a named lock (lock status: shows its holder and queue)',
  flags: [{ name: 'ttl', type: 'int', default: '10', usage: 'timeout for session' }],
  async run(ctx) {
    if (ctx.args.length === 0) throw new CliError(ExitCode.BadArgs, 'lock takes a lock name argument and an optional command to execute');
    if (ctx.args[0] === 'status' && ctx.args.length === 2 && ctx.dashAt < 0) return lockStatus(ctx, ctx.args[1]!);
    return lockUntilSignal(ctx, ctx.args[0]!, ctx.args.slice(1));
  },
};

async function lockUntilSignal(ctx: Context, name: string, command: string[]): Promise<void> {
  const client = await ctx.client();
  const printer = ctx.printer;
  const ttl = Number(ctx.flags.int('ttl'));
  const interrupted = new AbortController();
  const signalled = untilSignal(interrupted.signal);
  void signalled.then((s) => {
    if (s !== 'aborted') interrupted.abort(new Error('context canceled'));
  });
  ctx.cleanups.push(() => interrupted.abort());
  ctx.cleanups.push(() => client.lock.close());
  let hold;
  try {
    hold = await client.lock.acquire(name, { ttl, signal: interrupted.signal });
  } catch (err) {
    throw toCliError(err, ExitCode.Error);
  }
  ctx.cleanups.push(() => hold.release());
  if (command.length > 0) {
    const env = { ...ctx.env, ETCD_LOCK_KEY: hold.key, ETCD_LOCK_REV: hold.fencingToken.toString() };
    // A signal now is for the command (it shares our terminal); etcdctl waits for it to finish, so do we.
    try {
      await runCommand(command, env);
    } catch (err) {
      if (err instanceof ExecError) throw new CliError(ExitCode.Error, err.message);
      throw err;
    }
    return;
  }
  const resp = await unary(ctx, client, KVService.Range, { key: hold.keyBytes }, { idempotent: true });
  if (resp.kvs.length === 0) throw new CliError(ExitCode.Error, 'lock lost on init');
  printer.get(resp);
  const lost = new Promise<unknown>((resolve) => {
    const s = hold.signal;
    if (s.aborted) resolve(s.reason);
    else s.addEventListener('abort', () => resolve(s.reason), { once: true });
  });
  const outcome = await Promise.race([signalled.then(() => 'signal' as const), lost]);
  if (outcome === 'signal') return;
  const reason = outcome as { name?: string } | undefined;
  if (reason?.name === 'SessionExpiredError') throw new CliError(ExitCode.Error, 'session expired');
  throw new CliError(ExitCode.Error, `lock lost (${describeError(outcome)})`);
}

async function lockStatus(ctx: Context, name: string): Promise<void> {
  const client = await ctx.client();
  const printer = ctx.printer;
  let s;
  try {
    s = await client.lock.status(name, { timeoutMs: ctx.commandTimeoutMs });
  } catch (err) {
    throw toCliError(err, ExitCode.Error);
  }
  const status: QueueStatus = { kind: 'lock', name, revision: s.revision, holder: s.holder, waiters: s.waiters };
  printer.queueStatus(status);
}
