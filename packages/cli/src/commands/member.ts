/** `member add|remove|update|list|promote` and `move-leader`, as etcdctl 3.4 (member IDs in hex). */
import { ClusterService, MaintenanceService } from '@latchkey/proto';
import type { CommandSpec } from '../command.js';
import { CliError, ExitCode } from '../errors.js';
import { parseGoUint } from '../flags.js';
import { goQuote } from '../go-format.js';
import { SimplePrinter } from '../printers/index.js';
import { parseMemberIdArg, unary } from './common.js';

const add: CommandSpec = {
  name: 'add',
  use: 'add <memberName> [options]',
  short: 'Adds a member into the cluster',
  flags: [
    { name: 'peer-urls', type: 'string', default: '', usage: 'comma separated peer URLs for the new member.' },
    { name: 'learner', type: 'bool', default: 'false', usage: 'indicates if the new member is raft learner' },
  ],
  async run(ctx) {
    if (ctx.args.length < 1) throw new CliError(ExitCode.BadArgs, 'member name not provided');
    if (ctx.args.length > 1) {
      let ev = 'too many arguments';
      for (const s of ctx.args) if (s.toLowerCase().startsWith('http')) ev += `, did you mean --peer-urls=${s}`;
      throw new CliError(ExitCode.BadArgs, ev);
    }
    const name = ctx.args[0]!;
    const peerUrls = ctx.flags.string('peer-urls');
    if (peerUrls === '') throw new CliError(ExitCode.BadArgs, 'member peer urls not provided');
    const urls = peerUrls.split(',');
    const resp = await unary(ctx, await ctx.client(), ClusterService.MemberAdd, { peerURLs: urls, isLearner: ctx.flags.bool('learner') });
    ctx.printer.memberAdd(resp);
    if (ctx.printer instanceof SimplePrinter) {
      const newId = resp.member?.ID;
      const conf: string[] = [];
      for (const m of resp.members) for (const u of m.peerURLs) conf.push(`${m.ID === newId ? name : m.name}=${u}`);
      ctx.io.out(`\nETCD_NAME=${goQuote(name)}\nETCD_INITIAL_CLUSTER=${goQuote(conf.join(','))}\nETCD_INITIAL_ADVERTISE_PEER_URLS=${goQuote(peerUrls)}\nETCD_INITIAL_CLUSTER_STATE="existing"\n`);
    }
  },
};

const remove: CommandSpec = {
  name: 'remove',
  use: 'remove <memberID>',
  short: 'Removes a member from the cluster',
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'member ID is not provided');
    const id = parseMemberIdArg(ctx.args[0]!);
    const resp = await unary(ctx, await ctx.client(), ClusterService.MemberRemove, { ID: id });
    ctx.printer.memberRemove(id, resp);
  },
};

const update: CommandSpec = {
  name: 'update',
  use: 'update <memberID> [options]',
  short: 'Updates a member in the cluster',
  flags: [{ name: 'peer-urls', type: 'string', default: '', usage: 'comma separated peer URLs for the updated member.' }],
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'member ID is not provided');
    const id = parseMemberIdArg(ctx.args[0]!);
    const peerUrls = ctx.flags.string('peer-urls');
    if (peerUrls === '') throw new CliError(ExitCode.BadArgs, 'member peer urls not provided');
    const resp = await unary(ctx, await ctx.client(), ClusterService.MemberUpdate, { ID: id, peerURLs: peerUrls.split(',') });
    ctx.printer.memberUpdate(id, resp);
  },
};

const list: CommandSpec = {
  name: 'list',
  use: 'list',
  short: 'Lists all members in the cluster',
  long: `When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.`,
  async run(ctx) {
    const resp = await unary(ctx, await ctx.client(), ClusterService.MemberList, { linearizable: false }, { idempotent: true });
    ctx.printer.memberList(resp);
  },
};

const promote: CommandSpec = {
  name: 'promote',
  use: 'promote <memberID>',
  short: 'Promotes a non-voting member in the cluster',
  long: 'Promotes a non-voting learner member to a voting one in the cluster.',
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'member ID is not provided');
    const id = parseMemberIdArg(ctx.args[0]!);
    const resp = await unary(ctx, await ctx.client(), ClusterService.MemberPromote, { ID: id });
    ctx.printer.memberPromote(id, resp);
  },
};

export const memberCommand: CommandSpec = {
  name: 'member',
  use: 'member <subcommand>',
  short: 'Membership related commands',
  subcommands: [add, remove, update, list, promote],
};

/**
 * `move-leader <id>`: finds the leader among `--endpoints` (Status on each, in order) and asks it to hand
 * leadership to the member `<id>`.
 */
export const moveLeaderCommand: CommandSpec = {
  name: 'move-leader',
  use: 'move-leader <transferee-member-id>',
  short: 'Transfers leadership to another etcd cluster member.',
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'move-leader command needs 1 argument');
    let target: bigint;
    try {
      target = parseGoUint(ctx.args[0]!, 16, 64);
    } catch (err) {
      throw new CliError(ExitCode.BadArgs, (err as Error).message);
    }
    void ctx.printer;
    const deadline = Date.now() + ctx.commandTimeoutMs;
    for (const ep of ctx.endpoints) {
      const client = await ctx.client([ep]);
      const status = await unary(ctx, client, MaintenanceService.Status, {}, { idempotent: true, timeoutMs: Math.max(1, deadline - Date.now()) });
      if (status.header && status.header.memberId === status.leader) {
        const resp = await unary(ctx, client, MaintenanceService.MoveLeader, { targetID: target }, { timeoutMs: Math.max(1, deadline - Date.now()) });
        ctx.printer.moveLeader(status.leader, target, resp);
        return;
      }
    }
    throw new CliError(ExitCode.BadArgs, `no leader endpoint given at [${ctx.endpoints.join(' ')}]`);
  },
};
