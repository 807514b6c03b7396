/**
 * `endpoint health|status|hashkv [--cluster]`, as etcdctl 3.4: one connection per endpoint (each endpoint is
 * asked, not just any member), `--cluster` takes the endpoints from the member list's client URLs.
 * Health is a linearizable `Range{key:"health"}`; permission denied still counts as healthy.
 */
import { Client, PermissionDeniedError } from '@latchkey/client';
import { ClusterService, KVService, MaintenanceService } from '@latchkey/proto';
import type { CommandSpec } from '../command.js';
import type { Context } from '../context.js';
import { CliError, describeError, ExitCode, silentExit } from '../errors.js';
import { goDuration } from '../go-format.js';
import type { EpHashKV, EpHealth, EpStatus } from '../printers/index.js';
import { unary } from './common.js';

/** The endpoints a command addresses: `--endpoints`, or with `--cluster` every member's client URLs. */
export async function endpointsFromCluster(ctx: Context): Promise<string[]> {
  if (!ctx.flags.bool('cluster')) return ctx.endpoints;
  // Without credentials, as etcdctl: MemberList needs no authentication.
  const client = new Client(ctx.clientOptions(ctx.endpoints));
  try {
    const resp = await client.call(ClusterService.MemberList, { linearizable: false }, { timeoutMs: ctx.commandTimeoutMs, idempotent: true });
    return resp.members.flatMap((m) => m.clientURLs);
  } catch (err) {
    throw new CliError(ExitCode.Error, `failed to fetch endpoints from etcd cluster member list: ${describeError(err)}`);
  } finally {
    client.close();
  }
}

const health: CommandSpec = {
  name: 'health',
  use: 'health',
  short: 'Checks the healthiness of endpoints specified in `--endpoints` flag',
  async run(ctx) {
    const printer = ctx.printer;
    const eps = await endpointsFromCluster(ctx);
    const results: EpHealth[] = [];
    await Promise.all(
      eps.map(async (ep) => {
        let client;
        try {
          client = await ctx.client([ep]);
        } catch (err) {
          results.push({ ep, health: false, took: '', error: describeError(err) });
          return;
        }
        const start = process.hrtime.bigint();
        let error = '';
        try {
          await client.call(KVService.Range, { key: Buffer.from('health') }, { timeoutMs: ctx.commandTimeoutMs, idempotent: true });
        } catch (err) {
          if (!(err instanceof PermissionDeniedError)) error = describeError(err);
        }
        results.push({ ep, health: error === '', took: goDuration(process.hrtime.bigint() - start), error });
      }),
    );
    printer.endpointHealth(results);
    if (results.some((h) => h.error !== '')) throw new CliError(ExitCode.Error, 'unhealthy cluster');
  },
};

const status: CommandSpec = {
  name: 'status',
  use: 'status',
  short: 'Prints out the status of endpoints specified in `--endpoints` flag',
  long: `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.`,
  async run(ctx) {
    const printer = ctx.printer;
    const list: EpStatus[] = [];
    let failed = false;
    for (const ep of await endpointsFromCluster(ctx)) {
      try {
        const resp = await unary(ctx, await ctx.client([ep]), MaintenanceService.Status, {}, { idempotent: true });
        list.push({ ep, resp });
      } catch (err) {
        failed = true;
        ctx.io.err(`Failed to get the status of endpoint ${ep} (${describeError(err)})\n`);
      }
    }
    printer.endpointStatus(list);
    if (failed) throw silentExit(ExitCode.Error);
  },
};

const hashkv: CommandSpec = {
  name: 'hashkv',
  use: 'hashkv',
  short: 'Prints the KV history hash for each endpoint in --endpoints',
  persistentFlags: [{ name: 'rev', type: 'int', default: '0', usage: 'maximum revision to hash (default: all revisions)' }],
  async run(ctx) {
    const printer = ctx.printer;
    const list: EpHashKV[] = [];
    let lastError: unknown;
    for (const ep of await endpointsFromCluster(ctx)) {
      try {
        const resp = await unary(ctx, await ctx.client([ep]), MaintenanceService.HashKV, { revision: ctx.flags.int('rev') }, { idempotent: true });
        list.push({ ep, resp });
      } catch (err) {
        lastError = err;
        ctx.io.err(`Failed to get the hash of endpoint ${ep} (${describeError(err)})\n`);
      }
    }
    printer.endpointHashKV(list);
    if (lastError !== undefined) throw new CliError(ExitCode.Error, describeError(lastError));
  },
};

export const endpointCommand: CommandSpec = {
  name: 'endpoint',
  use: 'endpoint <subcommand>',
  short: 'Endpoint related commands',
  persistentFlags: [{ name: 'cluster', type: 'bool', default: 'false', usage: 'use all endpoints from the cluster member list' }],
  subcommands: [health, status, hashkv],
};
