/**
 * `lease grant|revoke|timetolive|list|keep-alive`, as etcdctl 3.4: IDs printed and parsed as hex, etcdctl's
 * messages and exit codes (timetolive, list and keep-alive failures are exit 2, "bad connection").
 */
import { LeaseService } from '@latchkey/proto';
import type { CommandSpec } from '../command.js';
import type { Context } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { parseGoInt } from '../flags.js';
import { hex16 } from '../go-format.js';
import { SimplePrinter } from '../printers/index.js';
import { KeepAliveStream } from '../streams.js';
import { parseLeaseArg, unary } from './common.js';

const grant: CommandSpec = {
  name: 'grant',
  use: 'grant <ttl>',
  short: 'Creates leases',
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'lease grant command needs TTL argument');
    let ttl: bigint;
    try {
      ttl = parseGoInt(ctx.args[0]!, 10, 64);
    } catch (err) {
      throw new CliError(ExitCode.BadArgs, `bad TTL (${(err as Error).message})`);
    }
    const resp = await unary(ctx, await ctx.client(), LeaseService.LeaseGrant, { TTL: ttl, ID: 0n }, { wrap: (m) => `failed to grant lease (${m})` });
    ctx.printer.grant(resp);
  },
};

const revoke: CommandSpec = {
  name: 'revoke',
  use: 'revoke <leaseID>',
  short: 'Revokes leases',
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'lease revoke command needs 1 argument');
    const id = parseLeaseArg(ctx.args[0]!);
    const resp = await unary(ctx, await ctx.client(), LeaseService.LeaseRevoke, { ID: id }, { wrap: (m) => `failed to revoke lease (${m})` });
    ctx.printer.revoke(id, resp);
  },
};

const timetolive: CommandSpec = {
  name: 'timetolive',
  use: 'timetolive <leaseID> [options]',
  short: 'Get lease information',
  flags: [{ name: 'keys', type: 'bool', default: 'false', usage: 'Get keys attached to this lease' }],
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'lease timetolive command needs lease ID as argument');
    const id = parseLeaseArg(ctx.args[0]!);
    const keys = ctx.flags.bool('keys');
    const resp = await unary(ctx, await ctx.client(), LeaseService.LeaseTimeToLive, { ID: id, keys }, { idempotent: true, code: ExitCode.BadConnection });
    ctx.printer.timeToLive(resp, keys);
  },
};

const list: CommandSpec = {
  name: 'list',
  use: 'list',
  short: 'List all active leases',
  async run(ctx) {
    const resp = await unary(ctx, await ctx.client(), LeaseService.LeaseLeases, {}, { idempotent: true, code: ExitCode.BadConnection });
    ctx.printer.leases(resp);
  },
};

const keepAlive: CommandSpec = {
  name: 'keep-alive',
  use: 'keep-alive [options] <leaseID>',
  short: 'Keeps leases alive (renew)',
  flags: [{ name: 'once', type: 'bool', default: 'false', usage: 'Resets the keep-alive time to its original value and exits immediately' }],
  async run(ctx: Context) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'lease keep-alive command needs lease ID as argument');
    const id = parseLeaseArg(ctx.args[0]!);
    const client = await ctx.client();
    const printer = ctx.printer;
    const stream = new KeepAliveStream(client, id, ctx.flags.durationMs('dial-timeout'));
    ctx.cleanups.push(() => stream.close());
    if (ctx.flags.bool('once')) {
      const end = await stream.run(() => undefined, { once: true, firstTimeoutMs: ctx.commandTimeoutMs });
      if (end.kind === 'gone') throw new CliError(ExitCode.BadConnection, 'etcdserver: requested lease not found');
      if (end.kind !== 'answered') throw new CliError(ExitCode.BadConnection, 'context deadline exceeded');
      printer.keepAlive(end.resp);
      return;
    }
    await stream.run((r) => printer.keepAlive(r), { firstTimeoutMs: ctx.flags.durationMs('dial-timeout') + 1_000 });
    if (printer instanceof SimplePrinter) ctx.io.out(`lease ${hex16(id)} expired or revoked.\n`);
  },
};

export const leaseCommand: CommandSpec = {
  name: 'lease',
  use: 'lease <subcommand>',
  short: 'Lease related commands',
  subcommands: [grant, revoke, timetolive, list, keepAlive],
};
