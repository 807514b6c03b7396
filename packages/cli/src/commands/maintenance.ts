/** `alarm list|disarm` and `defrag`, as etcdctl 3.4 (defrag of a stopped member's data directory is not offered). */
import { AlarmRequest_AlarmAction, AlarmType, MaintenanceService, type AlarmResponse } from '@latchkey/proto';
import type { CommandSpec } from '../command.js';
import { CliError, describeError, ExitCode, silentExit } from '../errors.js';
import { unary } from './common.js';
import { endpointsFromCluster } from './endpoint.js';

const alarmList: CommandSpec = {
  name: 'list',
  use: 'list',
  short: 'Lists all alarms',
  async run(ctx) {
    if (ctx.args.length !== 0) throw new CliError(ExitCode.BadArgs, 'alarm list command accepts no arguments');
    const resp = await unary(ctx, await ctx.client(), MaintenanceService.Alarm, { action: AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: AlarmType.NONE }, { idempotent: true });
    ctx.printer.alarm(resp);
  },
};

const alarmDisarm: CommandSpec = {
  name: 'disarm',
  use: 'disarm',
  short: 'Disarms all alarms',
  async run(ctx) {
    if (ctx.args.length !== 0) throw new CliError(ExitCode.BadArgs, 'alarm disarm command accepts no arguments');
    const client = await ctx.client();
    // clientv3's AlarmDisarm with no member given: list the alarms, deactivate each, and answer with the
    // alarms the deactivations returned (and no header).
    const list = await unary(ctx, client, MaintenanceService.Alarm, { action: AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: AlarmType.NONE }, { idempotent: true });
    const result: AlarmResponse = { alarms: [] };
    for (const a of list.alarms) {
      const r = await unary(ctx, client, MaintenanceService.Alarm, { action: AlarmRequest_AlarmAction.DEACTIVATE, memberID: a.memberID, alarm: a.alarm });
      result.alarms.push(...r.alarms);
    }
    ctx.printer.alarm(result);
  },
};

export const alarmCommand: CommandSpec = {
  name: 'alarm',
  use: 'alarm <subcommand>',
  short: 'Alarm related commands',
  subcommands: [alarmDisarm, alarmList],
};

export const defragCommand: CommandSpec = {
  name: 'defrag',
  use: 'defrag',
  short: 'Defragments the storage of the etcd members with given endpoints',
  persistentFlags: [{ name: 'cluster', type: 'bool', default: 'false', usage: 'use all endpoints from the cluster member list' }],
  async run(ctx) {
    let failures = 0;
    for (const ep of await endpointsFromCluster(ctx)) {
      try {
        await unary(ctx, await ctx.client([ep]), MaintenanceService.Defragment, {});
        ctx.io.out(`Finished defragmenting etcd member[${ep}]\n`);
      } catch (err) {
        ctx.io.err(`Failed to defragment etcd member[${ep}] (${describeError(err)})\n`);
        failures++;
      }
    }
    if (failures !== 0) throw silentExit(ExitCode.Error);
  },
};
