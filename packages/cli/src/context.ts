/**
 * What a running command gets: its arguments and flags, the printer for `-w`, and clients configured from the
 * global flags. Clients are created on first use (etcdctl sends no RPC until a command needs one) and closed
 * when the command ends.
 *
 * Global flags are etcdctl's; each may also come from the environment — `LATCHCTL_<FLAG>` first, then etcdctl's
 * `ETCDCTL_<FLAG>` (`LATCHCTL_ENDPOINTS`, `ETCDCTL_DIAL_TIMEOUT`, …). As in etcdctl, an environment variable
 * and the flag it stands for may not both be given, and an unusable environment value is ignored.
 */
import fs from 'node:fs';
import { Client, type ClientOptions, LatchkeyError } from '@latchkey/client';
import { AuthService } from '@latchkey/proto';
import { CliError, describeError, ExitCode } from './errors.js';
import { type FlagSet, type FlagSpec, flagToEnv } from './flags.js';
import { LineReader, type Output } from './io.js';
import { newPrinter, type Printer } from './printers/index.js';

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'endpoints', type: 'stringSlice', default: '[127.0.0.1:2379]', usage: 'gRPC endpoints' },
  { name: 'debug', type: 'bool', default: 'false', usage: 'enable client-side debug logging (accepted; latchctl logs nothing more)' },
  { name: 'write-out', short: 'w', type: 'string', default: 'simple', usage: 'set the output format (fields, json, protobuf, simple, table)' },
  { name: 'hex', type: 'bool', default: 'false', usage: 'print byte strings as hex encoded strings' },
  { name: 'dial-timeout', type: 'duration', default: '2s', usage: 'dial timeout for client connections' },
  { name: 'command-timeout', type: 'duration', default: '5s', usage: 'timeout for short running command (excluding dial timeout)' },
  { name: 'keepalive-time', type: 'duration', default: '2s', usage: 'keepalive time for client connections' },
  { name: 'keepalive-timeout', type: 'duration', default: '6s', usage: 'keepalive timeout for client connections' },
  { name: 'insecure-transport', type: 'bool', default: 'true', usage: 'disable transport security for client connections' },
  { name: 'insecure-discovery', type: 'bool', default: 'true', usage: 'accept insecure SRV records describing cluster endpoints' },
  { name: 'insecure-skip-tls-verify', type: 'bool', default: 'false', usage: 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' },
  { name: 'cert', type: 'string', default: '', usage: 'identify secure client using this TLS certificate file' },
  { name: 'key', type: 'string', default: '', usage: 'identify secure client using this TLS key file' },
  { name: 'cacert', type: 'string', default: '', usage: 'verify certificates of TLS-enabled secure servers using this CA bundle' },
  { name: 'user', type: 'string', default: '', usage: 'username[:password] for authentication (prompt if password is not supplied)' },
  { name: 'password', type: 'string', default: '', usage: "password for authentication (if this option is used, --user option shouldn't include password)" },
  { name: 'discovery-srv', short: 'd', type: 'string', default: '', usage: 'domain name to query for SRV records describing cluster endpoints (not supported by latchctl)' },
  { name: 'discovery-srv-name', type: 'string', default: '', usage: 'service name to query when using DNS discovery (not supported by latchctl)' },
];

/**
 * Applies environment variables to the flags in `names` that the command line did not set. Throws etcdctl's
 * "conflicting environment variable" error when both were given.
 */
export function applyEnvironment(flags: FlagSet, names: readonly string[], env: NodeJS.ProcessEnv): void {
  for (const name of names) {
    const key = ['LATCHCTL', 'ETCDCTL'].map((p) => flagToEnv(p, name)).find((k) => (env[k] ?? '') !== '');
    if (key === undefined) continue;
    if (flags.isChanged(name)) {
      throw new CliError(
        ExitCode.Error,
        `conflicting environment variable ${JSON.stringify(key)} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`,
      );
    }
    try {
      flags.set(name, env[key]!);
    } catch {
      // etcdctl ignores an environment value it cannot parse.
    }
  }
}

/** Go's wording of a failed file open (`open /x: no such file or directory`). */
export function goOpenError(path: string, err: unknown): string {
  const code = (err as { code?: string }).code;
  const why =
    code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
  return `open ${path}: ${why}`;
}

export class Context {
  private printerValue: Printer | undefined;
  private readonly clients: Client[] = [];
  private authValue: Promise<{ username: string; password: string } | undefined> | undefined;
  private linesValue: LineReader | undefined;
  /** Cleanup to run when the command ends (in reverse order), e.g. releasing a lock. */
  readonly cleanups: Array<() => Promise<void> | void> = [];

  constructor(
    /** Positional arguments. */
    readonly args: string[],
    /** Index in `args` where `--` stood, or -1 (cobra's ArgsLenAtDash). */
    readonly dashAt: number,
    readonly flags: FlagSet,
    /** The whole command line (after the binary), as etcdctl's watch reads os.Args. */
    readonly argv: readonly string[],
    readonly io: Output,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The printer for `-w`/`--hex`; an unknown format fails here (exit 4), as in etcdctl. */
  get printer(): Printer {
    this.printerValue ??= newPrinter(this.flags.string('write-out'), { out: this.io, hex: this.flags.bool('hex') });
    return this.printerValue;
  }

  /** The command's standard input. */
  get stdin(): NodeJS.ReadableStream {
    return this.io.stdin ?? process.stdin;
  }

  /** The one line reader over stdin (a password prompt, then a txn script or a value, share it). */
  get lines(): LineReader {
    this.linesValue ??= new LineReader(this.stdin);
    return this.linesValue;
  }

  get commandTimeoutMs(): number {
    return this.flags.durationMs('command-timeout');
  }

  get endpoints(): string[] {
    return this.flags.strings('endpoints').map((e) => e.trim());
  }

  /**
   * A client for the `--endpoints` (or for `endpoints` when given). The printer is validated first (an unknown
   * `-w` fails before any RPC, as in etcdctl); with `--user`, the credentials are settled first (see `auth`).
   */
  async client(endpoints?: readonly string[]): Promise<Client> {
    void this.printer;
    const auth = await this.auth();
    const options = this.clientOptions(endpoints ?? this.endpoints);
    if (auth) options.auth = auth;
    const c = new Client(options);
    this.clients.push(c);
    return c;
  }

  /** Client options from the global flags: endpoints, dial timeout, TLS files (credentials: see `auth`). */
  clientOptions(endpoints: readonly string[]): ClientOptions {
    if (this.flags.string('discovery-srv') !== '') {
      throw new CliError(ExitCode.Error, 'DNS discovery (--discovery-srv) is not supported by latchctl: give the --endpoints');
    }
    const options: ClientOptions = {
      endpoints: endpoints.length > 0 ? endpoints : ['127.0.0.1:2379'],
      dialTimeoutMs: Math.max(1, this.flags.durationMs('dial-timeout')),
      defaultTimeoutMs: Math.max(1, this.commandTimeoutMs),
      // grpc-go (etcdctl) raises a keepalive time under 10 s to 10 s; so do we.
      channelOptions: {
        'grpc.keepalive_time_ms': Math.max(10_000, this.flags.durationMs('keepalive-time')),
        'grpc.keepalive_timeout_ms': Math.max(1, this.flags.durationMs('keepalive-timeout')),
      },
    };
    const files = { ca: 'cacert', cert: 'cert', key: 'key' } as const;
    const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; insecureSkipVerify?: boolean } = {};
    let useTls = !this.flags.bool('insecure-transport');
    for (const [field, flag] of Object.entries(files) as [keyof typeof files, string][]) {
      const path = this.flags.string(flag);
      if (path === '') {
        if (this.flags.isChanged(flag)) throw new CliError(ExitCode.BadArgs, `empty string is passed to --${flag} option`);
        continue;
      }
      try {
        tls[field] = fs.readFileSync(path);
      } catch (err) {
        throw new CliError(ExitCode.BadArgs, goOpenError(path, err));
      }
      useTls = true;
    }
    // As etcdctl: skipping verification needs TLS on (--insecure-transport=false, or certificate files).
    if (useTls) options.tls = this.flags.bool('insecure-skip-tls-verify') ? { ...tls, insecureSkipVerify: true } : tls;
    return options;
  }

  /**
   * The credentials of `--user name[:password]` / `--password`, settled once per command as clientv3 does when it
   * connects: a missing password is asked for (`Password: ` on stdout, the answer read from stdin, not echoed on
   * a terminal); the name and password are then checked with one Authenticate call. A server without
   * authentication enabled is used without credentials (clientv3 ignores "authentication is not enabled");
   * rejected credentials end the command (exit 2, like a failed connection in etcdctl).
   */
  auth(): Promise<{ username: string; password: string } | undefined> {
    this.authValue ??= (async () => {
      const user = this.flags.string('user');
      if (user === '') return undefined;
      let username = user;
      let password = this.flags.string('password');
      if (password === '') {
        const i = user.indexOf(':');
        if (i >= 0) {
          username = user.slice(0, i);
          password = user.slice(i + 1);
        } else password = await askPassword(this.io, this.stdin, this.lines);
      }
      const probe = new Client(this.clientOptions(this.endpoints));
      try {
        await probe.call(AuthService.Authenticate, { name: username, password }, { timeoutMs: this.commandTimeoutMs, idempotent: true });
      } catch (err) {
        if (err instanceof LatchkeyError && err.etcdError === 'AuthNotEnabled') return undefined;
        throw new CliError(ExitCode.BadConnection, describeError(err));
      } finally {
        probe.close();
      }
      return { username, password };
    })();
    return this.authValue;
  }

  /** Closes every client and runs the cleanups. */
  async close(): Promise<void> {
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // best effort: the command's outcome is already decided
      }
    }
    for (const c of this.clients) c.close();
    this.linesValue?.close();
  }
}

/** speakeasy's prompt as etcdctl uses it: `Password: ` on stdout, a line from stdin (no echo on a terminal), a newline. */
async function askPassword(io: Output, stdin: NodeJS.ReadableStream, lines: LineReader): Promise<string> {
  io.out('Password: ');
  const tty = stdin as NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };
  if (tty.isTTY && tty.setRawMode) {
    tty.setRawMode(true);
    try {
      return await new Promise<string>((resolve) => {
        let typed = '';
        const onData = (chunk: Buffer | string): void => {
          for (const ch of chunk.toString()) {
            if (ch === '\r' || ch === '\n' || ch === '\u0004') {
              stdin.off('data', onData);
              stdin.pause();
              resolve(typed);
              return;
            }
            if (ch === '\u0003') process.exit(130);
            typed = ch === '\u007f' ? typed.slice(0, -1) : typed + ch;
          }
        };
        stdin.on('data', onData);
        stdin.resume();
      });
    } finally {
      tty.setRawMode(false);
      io.out('\n');
    }
  }
  const line = await lines.next();
  io.out('\n');
  return line.text.replace(/\r?\n$/, '');
}
