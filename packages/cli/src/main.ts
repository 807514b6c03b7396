/**
 * latchctl's entry point: finds the command, parses its flags (environment variables included), runs it, and
 * turns every failure into one `Error: …` line on stderr and etcdctl's exit code. Nothing a user can type makes
 * it print a stack trace: unexpected exceptions are reported the same way (exit 1).
 */
import { type CommandSpec, findCommand, firstCommandWord, flagsOf, helpText, inheritedFlags } from './command.js';
import { alarmCommand, defragCommand } from './commands/maintenance.js';
import { authCommand, roleCommand, userCommand } from './commands/auth.js';
import { checkCommand } from './commands/check.js';
import { compactionCommand, delCommand, getCommand, putCommand } from './commands/kv.js';
import { electCommand } from './commands/elect.js';
import { endpointCommand } from './commands/endpoint.js';
import { leaseCommand } from './commands/lease.js';
import { lockCommand } from './commands/lock.js';
import { memberCommand, moveLeaderCommand } from './commands/member.js';
import { snapshotCommand } from './commands/snapshot.js';
import { txnCommand } from './commands/txn.js';
import { versionCommand, LATCHCTL_VERSION } from './commands/version.js';
import { watchCommand } from './commands/watch.js';
import { applyEnvironment, Context, GLOBAL_FLAGS } from './context.js';
import { CliError, describeError, ExitCode } from './errors.js';
import { FlagError, FlagSet, HelpRequested } from './flags.js';
import { flushOutput, type Output, processOutput } from './io.js';

export const BINARY = 'latchctl';

export const rootCommand: CommandSpec = {
  name: BINARY,
  use: BINARY,
  short: 'an etcdctl-compatible command line client for latchkey and etcd v3',
  persistentFlags: GLOBAL_FLAGS,
  subcommands: [
    getCommand,
    putCommand,
    delCommand,
    txnCommand,
    compactionCommand,
    alarmCommand,
    defragCommand,
    endpointCommand,
    moveLeaderCommand,
    watchCommand,
    versionCommand,
    leaseCommand,
    memberCommand,
    snapshotCommand,
    lockCommand,
    electCommand,
    authCommand,
    userCommand,
    roleCommand,
    checkCommand,
  ],
};

/** Runs one command line; resolves with the exit code (output already written to `io`). */
export async function run(argv: readonly string[], io: Output = processOutput, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let ctx: Context | undefined;
  try {
    // `latchctl help [command…]` is `latchctl [command…] --help`.
    const words = argv[0] === 'help' ? [...argv.slice(1), '--help'] : [...argv];
    const { path, rest } = findCommand(rootCommand, words);
    const cmd = path[path.length - 1]!;
    // cobra rejects a word that names no command at the root before it looks at any flag.
    const stray = path.length === 1 ? firstCommandWord(rest, new FlagSet(flagsOf(path))) : undefined;
    if (stray !== undefined) throw new CliError(ExitCode.Error, `unknown command ${JSON.stringify(stray)} for ${JSON.stringify(BINARY)}`);
    const flags = new FlagSet(flagsOf(path));
    let parsed: { args: string[]; dashAt: number };
    try {
      parsed = flags.parse(rest);
    } catch (err) {
      if (err instanceof HelpRequested) {
        io.out(helpText(path, BINARY, LATCHCTL_VERSION));
        return ExitCode.Success;
      }
      throw err;
    }
    if (!cmd.run) {
      io.out(helpText(path, BINARY, LATCHCTL_VERSION));
      return ExitCode.Success;
    }
    applyEnvironment(
      flags,
      inheritedFlags(path).map((f) => f.name),
      env,
    );
    ctx = new Context(parsed.args, parsed.dashAt, flags, argv, io, env);
    await cmd.run(ctx);
    return ExitCode.Success;
  } catch (err) {
    return report(err, io);
  } finally {
    await ctx?.close();
  }
}

/** Prints the one-line report of a failure and returns its exit code. */
export function report(err: unknown, io: Output): number {
  if (err instanceof CliError) {
    if (!err.silent) io.err(`Error: ${err.message}\n`);
    return err.code;
  }
  if (err instanceof FlagError) {
    io.err(`Error: ${err.message}\n`);
    return ExitCode.Error;
  }
  io.err(`Error: ${describeError(err)}\n`);
  return ExitCode.Error;
}

/** The binary's main: runs, flushes, exits (gRPC channels and timers never keep a finished command alive). */
export async function main(argv: readonly string[]): Promise<void> {
  const crash = (err: unknown): void => {
    process.stderr.write(`Error: ${describeError(err)}\n`);
    process.exit(ExitCode.Error);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  // Node's own warnings (grpc-js sets an IP address as TLS server name, which Node deprecates) are not for users.
  process.removeAllListeners('warning');
  // A reader that went away (`latchctl get --prefix '' | head -1`): end quietly with the status a shell reports
  // for a program killed by SIGPIPE, as etcdctl is.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(128 + 13);
    crash(err);
  });
  const code = await run(argv);
  await flushOutput();
  process.exit(code);
}
