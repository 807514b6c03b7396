/**
 * `elect <election-name> [proposal]`, `elect -l <election-name>` (etcdctl 3.4) and `elect status <name>`
 * (latchctl), on the SDK's elections, which use etcd's layout (`<name>/<lease hex>`, leader = lowest create
 * revision) and so share elections with etcdctl and etcd's Go `concurrency.Election`.
 *
 *  - Campaign: waits until leader, prints the leader key and the proposal (as `get` prints a key), stays leader
 *    until SIGINT/SIGTERM, then resigns and exits 0; a lost session is `Error: elect: session expired`, exit 1.
 *  - Listen (`-l`): prints the leader's key and value now and whenever the leader or its value changes, until
 *    SIGINT/SIGTERM (exit 0).
 *  - `elect status <name>`: the leader and the queued candidates in order, with values and remaining TTLs.
 *    `elect status <proposal>`'s etcdctl meaning (campaign in an election named "status") needs `elect -- status x`.
 */
import { toText } from '@latchkey/client';
import { KVService, LeaseService, RangeRequest_SortOrder, RangeRequest_SortTarget, type RangeResponse } from '@latchkey/proto';
import type { CommandSpec } from '../command.js';
import type { Context } from '../context.js';
import { CliError, ExitCode, toCliError } from '../errors.js';
import type { QueueEntry } from '../printers/index.js';
import { unary, untilSignal } from './common.js';
import { bytes, prefixRangeEnd } from '../keys.js';

export const electCommand: CommandSpec = {
  name: 'elect',
  use: 'elect <election-name> [proposal] | elect status <election-name>',
  short: 'Observes and participates in leader election (elect status: shows leader and candidates)',
  flags: [{ name: 'listen', short: 'l', type: 'bool', default: 'false', usage: 'observation mode' }],
  async run(ctx) {
    const listen = ctx.flags.bool('listen');
    if (ctx.args.length !== 1 && ctx.args.length !== 2) {
      throw new CliError(ExitCode.BadArgs, 'elect takes one election name argument and an optional proposal argument');
    }
    if (!listen && ctx.args[0] === 'status' && ctx.args.length === 2 && ctx.dashAt < 0) return electStatus(ctx, ctx.args[1]!);
    if (ctx.args.length === 1) {
      if (!listen) throw new CliError(ExitCode.BadArgs, 'no proposal argument but -l not set');
      return observe(ctx, ctx.args[0]!);
    }
    if (listen) throw new CliError(ExitCode.BadArgs, 'proposal given but -l is set');
    return campaign(ctx, ctx.args[0]!, ctx.args[1]!);
  },
};

/** Aborts on SIGINT/SIGTERM; `signalled` resolves then. */
function interruption(ctx: Context): { signal: AbortSignal; signalled: Promise<unknown> } {
  const ac = new AbortController();
  const signalled = untilSignal(ac.signal).then((s) => {
    if (s !== 'aborted') ac.abort(new Error('context canceled'));
  });
  ctx.cleanups.push(() => ac.abort());
  return { signal: ac.signal, signalled };
}

async function campaign(ctx: Context, name: string, proposal: string): Promise<void> {
  const client = await ctx.client();
  const printer = ctx.printer;
  const { signal, signalled } = interruption(ctx);
  ctx.cleanups.push(() => client.lock.close());
  let leadership;
  try {
    leadership = await client.election(name).campaign(proposal, { signal });
  } catch (err) {
    throw toCliError(err, ExitCode.Error);
  }
  ctx.cleanups.push(() => leadership.resign());
  const resp = await unary(ctx, client, KVService.Range, { key: leadership.keyBytes }, { idempotent: true });
  printer.get(resp);
  const sessionEnded = new Promise<void>((resolve) => {
    const s = leadership.session.signal;
    if (s.aborted) resolve();
    else s.addEventListener('abort', () => resolve(), { once: true });
  });
  const outcome = await Promise.race([signalled.then(() => 'signal' as const), sessionEnded.then(() => 'lost' as const)]);
  if (outcome === 'lost') throw new CliError(ExitCode.Error, 'elect: session expired');
}

async function observe(ctx: Context, name: string): Promise<void> {
  const client = await ctx.client();
  const printer = ctx.printer;
  const { signal } = interruption(ctx);
  // etcdctl's observer opens a session as well (a lease kept alive while it listens); so does latchctl.
  const session = await client.lock.defaultSession(60, { signal, timeoutMs: ctx.commandTimeoutMs }).catch((err: unknown) => {
    if (signal.aborted) return undefined;
    throw toCliError(err, ExitCode.Error);
  });
  ctx.cleanups.push(() => client.lock.close());
  if (!session) return;
  try {
    for await (const o of client.election(name).observe({ signal })) {
      if (o.none) continue;
      // Print the leader's key-value exactly as stored at that revision.
      let resp: RangeResponse;
      try {
        resp = await client.call(KVService.Range, { key: bytes(o.key), revision: o.modRevision }, { timeoutMs: ctx.commandTimeoutMs, idempotent: true });
      } catch {
        resp = { kvs: [{ key: bytes(o.key), value: o.rawValue, createRevision: o.term, modRevision: o.modRevision, version: 0n, lease: 0n }], more: false, count: 1n };
      }
      printer.get(resp);
    }
  } catch (err) {
    if (!signal.aborted) throw new CliError(ExitCode.Error, 'elect: observer lost', { cause: err });
  }
  if (!signal.aborted) throw new CliError(ExitCode.Error, 'elect: observer lost');
}

async function electStatus(ctx: Context, name: string): Promise<void> {
  const client = await ctx.client();
  const printer = ctx.printer;
  const prefix = bytes(`${name}/`);
  const r = await unary(
    ctx,
    client,
    KVService.Range,
    { key: prefix, rangeEnd: prefixRangeEnd(prefix), sortTarget: RangeRequest_SortTarget.CREATE, sortOrder: RangeRequest_SortOrder.ASCEND },
    { idempotent: true },
  );
  const entries: QueueEntry[] = await Promise.all(
    r.kvs.map(async (kv) => {
      let ttl = -1n;
      if (kv.lease !== 0n) ttl = (await unary(ctx, client, LeaseService.LeaseTimeToLive, { ID: kv.lease, keys: false }, { idempotent: true })).TTL;
      return { key: toText(kv.key), lease: kv.lease, revision: kv.createRevision, ttl, value: toText(kv.value) };
    }),
  );
  printer.queueStatus({ kind: 'election', name, revision: r.header?.revision ?? 0n, holder: entries[0], waiters: entries.slice(1) });
}
