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
import { Client, type ClientOptions } from '@latchkey/client';
import { CliError, ExitCode } from './errors.js';
import { type FlagSet, type FlagSpec, flagToEnv } from './flags.js';
import type { Output } from './io.js';
import { newPrinter, type Printer } from './printers/index.js';

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'endpoints', type: 'stringSlice', default: '[127.0.0.1:2379]', usage: 'gRPC endpoints' },
  { name: 'debug', type: 'bool', default: 'false', usage: 'enable client-side debug logging' },
  { name: 'write-out', short: 'w', type: 'string', default: 'simple', usage: 'set the output format (fields, json, protobuf, simple, table)' },
  { name: 'hex', type: 'bool', default: 'false', usage: 'print byte strings as hex encoded strings' },
  { name: 'dial-timeout', type: 'duration', default: '2s', usage: 'dial timeout for client connections' },
  { name: 'command-timeout', type: 'duration', default: '5s', usage: 'timeout for short running command (excluding dial timeout)' },
  { name: 'keepalive-time', type: 'duration', default: '2s', usage: 'keepalive time for client connections' },
  { name: 'keepalive-timeout', type: 'duration', default: '6s', usage: 'keepalive timeout for client connections' },
  { name: 'insecure-transport', type: 'bool', default: 'true', usage: 'disable transport security for client connections' },
  { name: 'insecure-discovery', type: 'bool', default: 'true', usage: 'accept insecure SRV records describing cluster endpoints' },
  { name: 'insecure-skip-tls-verify', type: 'bool', default: 'false', usage: 'skip server certificate verification (not supported by latchctl: certificates are always verified)' },
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
  private passwordValue: string | undefined;
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
    /** The full command name, for messages (`lease grant`). */
    readonly commandName: string,
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

  get format(): string {
    return this.flags.string('write-out');
  }

  get commandTimeoutMs(): number {
    return this.flags.durationMs('command-timeout');
  }

  get endpoints(): string[] {
    return this.flags.strings('endpoints').map((e) => e.trim());
  }

  /** A client for the `--endpoints` (or for `endpoints` when given). The printer is validated first. */
  client(endpoints?: readonly string[]): Client {
    void this.printer;
    const c = new Client(this.clientOptions(endpoints ?? this.endpoints));
    this.clients.push(c);
    return c;
  }

  /** Client options from the global flags: endpoints, dial timeout, TLS files, credentials. */
  clientOptions(endpoints: readonly string[], withAuth = true): ClientOptions {
    const options: ClientOptions = {
      endpoints: endpoints.length > 0 ? endpoints : ['127.0.0.1:2379'],
      dialTimeoutMs: Math.max(1, this.flags.durationMs('dial-timeout')),
      defaultTimeoutMs: Math.max(1, this.commandTimeoutMs),
    };
    const files = { ca: 'cacert', cert: 'cert', key: 'key' } as const;
    const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
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
    if (useTls) options.tls = tls;
    if (withAuth) {
      const auth = this.auth();
      if (auth) options.auth = auth;
    }
    return options;
  }

  /** `--user name:password`, or `--user name --password pw`; none when --user is empty. */
  private auth(): { username: string; password: string } | undefined {
    const user = this.flags.string('user');
    if (user === '') return undefined;
    const password = this.flags.string('password');
    if (password !== '') return { username: user, password };
    const i = user.indexOf(':');
    if (i >= 0) return { username: user.slice(0, i), password: user.slice(i + 1) };
    if (this.passwordValue === undefined) throw new CliError(ExitCode.Error, 'password required: give --user=name:password or --password (no terminal prompt was possible)');
    return { username: user, password: this.passwordValue };
  }

  /** Supplies the password asked for on the terminal (main does the prompting before the command runs). */
  setPromptedPassword(password: string): void {
    this.passwordValue = password;
  }

  /** True when `--user` has no password and one must be asked for. */
  needsPasswordPrompt(): boolean {
    const user = this.flags.string('user');
    return user !== '' && this.flags.string('password') === '' && !user.includes(':');
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
  }
}
