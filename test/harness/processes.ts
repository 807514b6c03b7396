/**
 * Real server processes for integration, conformance, crash and (later) cluster and chaos tests: a real etcd
 * member or a latchkey member, started with the same etcd-style flags in a fresh temporary directory.
 *
 * ```ts
 * const m = await Member.start({ kind: 'latchkey' });   // resolves once `etcdctl endpoint health` succeeds
 * m.endpoint;                                          // '127.0.0.1:40123' (etcdctl --endpoints form)
 * await m.kill('SIGKILL');                             // resolves once the process has exited
 * await m.restart();                                   // same flags, ports and data dir; waits until healthy
 * await m.stop();                                      // SIGTERM, SIGKILL after a grace period
 * await m.dispose();                                   // stop and delete the temp dir (keep it with { keepFiles: true })
 * ```
 *
 * Layout of a member's temp dir (`m.dir`): `data/` is the `--data-dir`, `member.log` receives stdout and stderr of
 * every run (appended; each run starts with a `=== start #n …` line).
 *
 * Cleanup: every started member is tracked; `stopAllMembers()` stops them all, and a process `exit` handler
 * SIGKILLs any that are still running, so a crashed test worker does not leave servers behind. Vitest suites
 * should use `useMembers()` from `./vitest.ts`, which stops members after each test and prints their log paths
 * when a test fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { etcdctl } from './etcdctl.js';
import { freePorts } from './ports.js';

export type MemberKind = 'etcd' | 'latchkey';

/** The repository root (test/harness/ → ../..; the compiled copy lives in test/dist/harness/ → ../../..). */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'packages', 'server', 'bin', 'latchkey.js'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('processes: cannot find the repository root (packages/server/bin/latchkey.js)');
}

/** The etcd binary; override with `ETCD_BIN`. */
export const ETCD_BIN = process.env['ETCD_BIN'] ?? 'etcd';

/** Command line (without the etcd flags) that runs a member of this kind. */
export function memberCommand(kind: MemberKind): { command: string; args: string[] } {
  if (kind === 'etcd') return { command: ETCD_BIN, args: [] };
  const bin = path.join(repoRoot(), 'packages', 'server', 'bin', 'latchkey.js');
  const dist = path.join(repoRoot(), 'packages', 'server', 'dist', 'main.js');
  if (!fs.existsSync(dist)) throw new Error(`processes: ${dist} is missing; run \`npx tsc -b\` first`);
  return { command: process.execPath, args: [bin] };
}

export interface MemberOptions {
  kind: MemberKind;
  /** `--name` (default `m1`). */
  name?: string;
  /** Flags appended after the standard ones, for example `['--snapshot-count', '100']`. Both kinds get the same. */
  extraArgs?: readonly string[];
  /** Extra environment variables for the child. */
  env?: Record<string, string>;
  /** How long to wait for the member to answer `endpoint health` after a (re)start (default 20 s). */
  readyTimeoutMs?: number;
  /** Parent directory for the member's temp dir (default `os.tmpdir()`). */
  tmpRoot?: string;
  /** For cluster members: `--initial-cluster` (default: this member alone) and `--initial-cluster-state`. */
  initialCluster?: string;
  initialClusterState?: 'new' | 'existing';
  /** For cluster members: ports chosen by the caller (default: fresh free ports). */
  clientPort?: number;
  peerPort?: number;
  /**
   * Ports to advertise instead of the listening ones (`--advertise-client-urls`, `--initial-advertise-peer-urls`),
   * for a proxy in front of the member (the chaos suite's fault proxy). Default: the listening ports.
   */
  advertiseClientPort?: number;
  advertisePeerPort?: number;
}

/** Thrown when a member does not become healthy; carries the tail of its log. */
export class MemberStartError extends Error {
  constructor(
    message: string,
    readonly logPath: string,
    readonly logTail: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}\n  log: ${logPath}\n${indent(logTail)}`, options);
    this.name = 'MemberStartError';
  }
}

const indent = (s: string): string =>
  s
    .split('\n')
    .map((l) => `    | ${l}`)
    .join('\n');

const running = new Set<Member>();
let exitHandlerInstalled = false;

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  // Last resort: synchronous SIGKILL of anything still running when this process exits.
  process.once('exit', () => {
    for (const m of running) m.killSync();
  });
}

/** One member process (one at a time; `restart()` replaces it with a new one on the same ports and data dir). */
export class Member {
  readonly kind: MemberKind;
  readonly name: string;
  /** The member's temp dir; holds `data/` and `member.log`. */
  readonly dir: string;
  readonly dataDir: string;
  readonly logPath: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** `127.0.0.1:<clientPort>`, the form etcdctl's `--endpoints` and its output use. */
  readonly endpoint: string;
  /** The advertised client endpoint (`endpoint` unless `advertiseClientPort` was given). */
  readonly advertisedEndpoint: string;
  /** The advertised peer URL (`peerUrl` unless `advertisePeerPort` was given). */
  readonly advertisedPeerUrl: string;
  /** The etcd flags, identical for both kinds. */
  readonly flags: readonly string[];
  private options: MemberOptions;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private starts = 0;
  /** Exit code or signal of the most recent run that has ended, for diagnostics. */
  lastExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  private constructor(options: MemberOptions, dir: string, clientPort: number, peerPort: number) {
    this.options = options;
    this.kind = options.kind;
    this.name = options.name ?? 'm1';
    this.dir = dir;
    this.dataDir = path.join(dir, 'data');
    this.logPath = path.join(dir, 'member.log');
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.clientUrl = `http://127.0.0.1:${clientPort}`;
    this.peerUrl = `http://127.0.0.1:${peerPort}`;
    this.endpoint = `127.0.0.1:${clientPort}`;
    this.advertisedEndpoint = `127.0.0.1:${options.advertiseClientPort ?? clientPort}`;
    this.advertisedPeerUrl = `http://127.0.0.1:${options.advertisePeerPort ?? peerPort}`;
    this.flags = [
      '--name', this.name,
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.clientUrl,
      '--advertise-client-urls', `http://${this.advertisedEndpoint}`,
      '--listen-peer-urls', this.peerUrl,
      '--initial-advertise-peer-urls', this.advertisedPeerUrl,
      '--initial-cluster', options.initialCluster ?? `${this.name}=${this.advertisedPeerUrl}`,
      '--initial-cluster-state', options.initialClusterState ?? 'new',
      '--initial-cluster-token', 'latchkey-test',
      ...(options.extraArgs ?? []),
    ];
  }

  /**
   * Starts a fresh member in a new temp dir and waits until it is healthy. If the child dies because a port was
   * taken in the meantime (the small race `ports.ts` describes), it retries with new ports, up to 3 times.
   */
  static async start(options: MemberOptions): Promise<Member> {
    const tmpRoot = options.tmpRoot ?? os.tmpdir();
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const dir = fs.mkdtempSync(path.join(tmpRoot, `latchkey-test-${options.kind}-`));
      const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
      const member = new Member(options, dir, clientPort, peerPort);
      try {
        await member.launch();
        return member;
      } catch (err) {
        lastError = err;
        await member.stop();
        const log = member.readLog();
        if (!/address already in use|EADDRINUSE/i.test(log)) throw err;
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    throw lastError;
  }

  /**
   * Creates a member without starting it (for clusters, whose members can only become healthy together); call
   * `launch(false)` on each, then `waitHealthy()`.
   */
  static prepare(options: MemberOptions): Member {
    const tmpRoot = options.tmpRoot ?? os.tmpdir();
    const dir = fs.mkdtempSync(path.join(tmpRoot, `latchkey-test-${options.kind}-`));
    if (options.clientPort === undefined || options.peerPort === undefined) throw new Error('prepare: ports are required');
    return new Member(options, dir, options.clientPort, options.peerPort);
  }

  /** PID of the current process, or undefined when it is not running. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the process (it must not be running) and, unless `wait` is false, waits until it answers `endpoint health`. */
  async launch(wait = true): Promise<void> {
    if (this.running) throw new Error(`member ${this.endpoint} is already running (pid ${this.pid})`);
    installExitHandler();
    const { command, args } = memberCommand(this.kind);
    const n = ++this.starts;
    fs.appendFileSync(this.logPath, `=== start #${n} ${new Date().toISOString()}: ${[command, ...args, ...this.flags].join(' ')}\n`);
    const logFd = fs.openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, [...args, ...this.flags], {
        stdio: ['ignore', logFd, logFd],
        env: { ...process.env, ...this.options.env },
      });
    } finally {
      fs.closeSync(logFd);
    }
    this.child = child;
    running.add(this);
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.lastExit = { code, signal };
        running.delete(this);
        resolve();
      });
      child.once('error', (err) => {
        fs.appendFileSync(this.logPath, `=== spawn error: ${err.message}\n`);
        this.lastExit = { code: null, signal: null };
        running.delete(this);
        resolve();
      });
    });
    if (wait) await this.waitHealthy(this.options.readyTimeoutMs ?? 20_000);
  }

  /**
   * Polls until the member answers: first a TCP connect to the client port, then `etcdctl endpoint health`
   * (a linearizable Range, so it needs a leader and an applied log). Fails early if the process exits.
   */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const child = this.child;
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    let last = '';
    while (Date.now() < deadline) {
      if (exited || child === undefined || !this.running) {
        throw new MemberStartError(`${this.kind} member ${this.endpoint} exited before becoming healthy (${JSON.stringify(this.lastExit)})`, this.logPath, this.logTail());
      }
      if (await tcpConnects(this.clientPort)) {
        const r = await etcdctl(this.endpoint, ['endpoint', 'health', '--command-timeout=2s'], { timeoutMs: 5_000 });
        if (r.code === 0) return;
        last = r.stderr.trim();
      }
      await pollPause(exited ? 0 : 25);
    }
    throw new MemberStartError(`${this.kind} member ${this.endpoint} not healthy after ${timeoutMs} ms; last health check: ${last}`, this.logPath, this.logTail());
  }

  /**
   * Sends `signal` (default SIGKILL). For signals that end the process (KILL, TERM, INT, QUIT, ABRT) it resolves
   * once the process has exited; for others (STOP, CONT, …) right after sending.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child!.kill(signal);
    if (['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGABRT'].includes(signal)) await this.exited;
  }

  /** Synchronous SIGKILL, for process exit handlers. */
  killSync(): void {
    if (this.running) this.child!.kill('SIGKILL');
  }

  /**
   * Stops the member if it runs (SIGTERM, then SIGKILL after `graceMs`), then starts it again with the same flags,
   * ports and data dir, and waits until it is healthy. With `waitHealthy: false` it returns right after spawning
   * (for example to kill it again while it is still recovering); call `waitHealthy()` later if needed.
   */
  async restart(options: { graceMs?: number; waitHealthy?: boolean; env?: Record<string, string> } = {}): Promise<void> {
    await this.stop(options.graceMs);
    if (options.env) this.options.env = options.env;
    await this.launch(options.waitHealthy ?? true);
  }

  /** Resolves when the process exits (at once if it is not running). */
  waitExit(): Promise<void> {
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs` (default 5 s). Resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) {
      await this.exited;
      return;
    }
    const child = this.child!;
    if (child.signalCode === null) child.kill('SIGCONT'); // a SIGSTOPped child would never see SIGTERM
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const escalate = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        fs.appendFileSync(this.logPath, `=== harness: no exit ${graceMs} ms after SIGTERM, sending SIGKILL\n`);
        child.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, escalate]);
    clearTimeout(timer);
    await this.exited;
  }

  /** Stops the member and removes its temp dir unless `keepFiles`. */
  async dispose(options: { keepFiles?: boolean; graceMs?: number } = {}): Promise<void> {
    await this.stop(options.graceMs);
    if (!options.keepFiles) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  readLog(): string {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** The last `lines` lines of the log. */
  logTail(lines = 30): string {
    return this.readLog().split('\n').slice(-lines).join('\n');
  }

  toString(): string {
    return `${this.kind} ${this.name} @ ${this.endpoint} (log: ${this.logPath})`;
  }
}

function tcpConnects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Pause between two readiness polls (a poll interval under a deadline, not a stand-in for synchronization). */
function pollPause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Members that are currently running (started by this process). */
export function runningMembers(): Member[] {
  return [...running];
}

/** Stops every member this process started that is still running. */
export async function stopAllMembers(graceMs?: number): Promise<void> {
  await Promise.all([...running].map((m) => m.stop(graceMs)));
}
