/**
 * `snapshot save|status|restore`, as etcdctl 3.4.
 *
 *  - save: streams Maintenance.Snapshot from the single `--endpoints` member into `<file>.part`, checks that the
 *    size leaves room for etcd's trailing SHA-256 (size % 512 == 32), fsyncs, renames to `<file>`; failures are
 *    exit 5. No deadline unless `--command-timeout` is given.
 *  - status: etcdctl's hash (CRC-32C over the buckets), revision, key count and size of a snapshot file —
 *    latchkey's or etcd's — read with the server package's bbolt reader (`@latchkey/server/snap`);
 *  - restore: a new latchkey data directory from a snapshot file (etcdctl's flags; the WAL lives inside the
 *    data directory, so `--wal-dir` is not supported). Like etcdctl, it prints nothing on success.
 */
import fs from 'node:fs';
import { snapshot } from '@latchkey/client';
import type { CommandSpec } from '../command.js';
import type { Context } from '../context.js';
import { CliError, describeError, ExitCode } from '../errors.js';
import type { DbStatus } from '../printers/index.js';

const save: CommandSpec = {
  name: 'save',
  use: 'save <filename>',
  short: 'Stores an etcd node backend snapshot to a given file',
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'snapshot save expects one argument');
    const path = ctx.args[0]!;
    const endpoints = ctx.endpoints;
    if (endpoints.length !== 1) throw new CliError(ExitCode.Interrupted, `snapshot must be requested to one selected node, not multiple [${endpoints.join(' ')}]`);
    const client = await ctx.client();
    const part = `${path}.part`;
    let fd: number;
    try {
      fd = fs.openSync(part, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
    } catch (err) {
      throw new CliError(ExitCode.Interrupted, `could not open ${part} (${describeError(err)})`);
    }
    try {
      let size = 0;
      const timeoutMs = ctx.flags.isChanged('command-timeout') ? ctx.commandTimeoutMs : undefined;
      try {
        for await (const chunk of snapshot(client, { timeoutMs })) {
          fs.writeSync(fd, chunk.blob);
          size += chunk.blob.length;
        }
      } catch (err) {
        throw new CliError(ExitCode.Interrupted, describeError(err));
      }
      if (size % 512 !== 32) throw new CliError(ExitCode.Interrupted, `sha256 checksum not found [bytes: ${size}]`);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = -1;
      try {
        fs.renameSync(part, path);
      } catch (err) {
        throw new CliError(ExitCode.Interrupted, `could not rename ${part} to ${path} (${describeError(err)})`);
      }
    } finally {
      if (fd >= 0) fs.closeSync(fd);
      fs.rmSync(part, { force: true });
    }
    ctx.io.out(`Snapshot saved at ${path}\n`);
  },
};

/**
 * The server package's snapshot module (bbolt files in etcd's layout), loaded on demand: only `snapshot status`
 * and `snapshot restore` need it and its storage engine.
 */
async function snapModule(): Promise<typeof import('@latchkey/server/snap')> {
  try {
    return await import('@latchkey/server/snap');
  } catch (err) {
    throw new CliError(ExitCode.Error, `snapshot files cannot be read: @latchkey/server/snap is not available (${describeError(err)})`);
  }
}

/**
 * A snapshot module error in etcdctl's words: bbolt's `invalid database` for a file that is not one, and
 * restore's configuration errors without the module's prefix (`couldn't find local name …`, `data-dir … exists`).
 */
function snapshotErrorText(err: unknown): string {
  const name = (err as { name?: string }).name;
  if (name === 'NotBoltFileError') return 'invalid database';
  return describeError(err).replace(/^snapshot restore: /, '');
}

const status: CommandSpec = {
  name: 'status',
  use: 'status <filename>',
  short: 'Gets backend snapshot status of a given file',
  long: `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are hash, revision, total keys, total size.`,
  async run(ctx: Context) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'snapshot status requires exactly one argument');
    const printer = ctx.printer;
    const path = ctx.args[0]!;
    try {
      fs.statSync(path);
    } catch (err) {
      throw new CliError(ExitCode.Error, `stat ${path}: ${(err as { code?: string }).code === 'ENOENT' ? 'no such file or directory' : describeError(err)}`);
    }
    const snap = await snapModule();
    let s: DbStatus;
    try {
      s = await snap.snapshotStatus(path);
    } catch (err) {
      throw new CliError(ExitCode.Error, snapshotErrorText(err));
    }
    printer.dbStatus(s);
  },
};

const restore: CommandSpec = {
  name: 'restore',
  use: 'restore <filename> [options]',
  short: 'Restores an etcd member snapshot to an etcd directory',
  flags: [
    { name: 'data-dir', type: 'string', default: '', usage: 'Path to the data directory' },
    { name: 'wal-dir', type: 'string', default: '', usage: 'Path to the WAL directory (use --data-dir if none given)' },
    { name: 'initial-cluster', type: 'string', default: 'default=http://localhost:2380', usage: 'Initial cluster configuration for restore bootstrap' },
    { name: 'initial-cluster-token', type: 'string', default: 'etcd-cluster', usage: 'Initial cluster token for the etcd cluster during restore bootstrap' },
    { name: 'initial-advertise-peer-urls', type: 'string', default: 'http://localhost:2380', usage: "List of this member's peer URLs to advertise to the rest of the cluster" },
    { name: 'name', type: 'string', default: 'default', usage: 'Human-readable name for this member' },
    { name: 'skip-hash-check', type: 'bool', default: 'false', usage: 'Ignore snapshot integrity hash value (required if copied from data directory)' },
  ],
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'snapshot restore requires exactly one argument');
    const name = ctx.flags.string('name');
    const dataDir = ctx.flags.string('data-dir') || `${name}.etcd`;
    if (ctx.flags.isChanged('wal-dir') && ctx.flags.string('wal-dir') !== `${dataDir}/member/wal`) {
      throw new CliError(ExitCode.BadArgs, 'latchkey keeps its WAL inside the data directory: --wal-dir is not supported');
    }
    const snap = await snapModule();
    try {
      await snap.restoreSnapshot({
        snapshotPath: ctx.args[0]!,
        dataDir,
        name,
        initialCluster: ctx.flags.string('initial-cluster'),
        initialClusterToken: ctx.flags.string('initial-cluster-token'),
        initialAdvertisePeerUrls: ctx.flags.string('initial-advertise-peer-urls').split(','),
        skipHashCheck: ctx.flags.bool('skip-hash-check'),
      });
    } catch (err) {
      throw new CliError(ExitCode.Error, snapshotErrorText(err));
    }
  },
};

export const snapshotCommand: CommandSpec = {
  name: 'snapshot',
  use: 'snapshot <subcommand>',
  short: 'Manages etcd node snapshots',
  subcommands: [save, restore, status],
};
