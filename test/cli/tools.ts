/**
 * Running etcdctl or latchctl (the built binary, packages/cli/bin/latchctl.js) the same way, one-shot or as a
 * long-running process fed through stdin, so that a test can give both tools the same command and compare.
 *
 * ```ts
 * const r = await runTool('latchctl', endpoint, ['get', 'foo', '-w', 'json']);      // { stdout, stderr, code }
 * const p = startTool('latchctl', endpoint, ['txn', '-i']);
 * await p.waitFor((out) => out.includes('compares:'));
 * p.write('value("k") = "v"\n\n');
 * const done = await p.exited();                                                   // or p.stop()
 * ```
 *
 * Waiting is event-driven: predicates are checked on every chunk of output and on exit; a time limit only
 * guards against a hung process and is reported (`timedOut`), never silently treated as success.
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run as runLatchctlMain } from '../../packages/cli/src/main.js';
import { cleanStderr, ETCDCTL_BIN } from '../harness/etcdctl.js';

export type Tool = 'etcdctl' | 'latchctl';

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'packages', 'cli', 'bin', 'latchctl.js'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('tools: cannot find the repository root');
}

export const LATCHCTL_BIN = path.join(repoRoot(), 'packages', 'cli', 'bin', 'latchctl.js');

function command(tool: Tool): { file: string; prefix: string[] } {
  if (tool === 'etcdctl') return { file: ETCDCTL_BIN, prefix: [] };
  if (!fs.existsSync(path.join(repoRoot(), 'packages', 'cli', 'dist', 'main.js'))) throw new Error('tools: packages/cli/dist is missing; run `npx tsc -b` first');
  return { file: process.execPath, prefix: [LATCHCTL_BIN] };
}

export interface ToolResult {
  stdout: string;
  stderr: string;
  /** Exit code; for a death by signal, 128 + the signal number. */
  code: number;
  /** The process had to be killed by the time limit. */
  timedOut: boolean;
}

export interface ToolOptions {
  /** Written to stdin, which is then closed (default: empty stdin). */
  stdin?: string | Uint8Array;
  env?: Record<string, string>;
  /** Kill after this long (default 20 s). */
  timeoutMs?: number;
  /** Do not add `--endpoints` (the test gives it, or wants the default / environment). */
  noEndpointFlag?: boolean;
}

/** A running tool: feed stdin, wait for output, stop it. */
export class ToolProcess {
  stdout = '';
  stderr = '';
  private readonly listeners = new Set<() => void>();
  private exitCode: number | undefined;
  private readonly closed: Promise<number>;
  private killedByLimit = false;
  private readonly limit: NodeJS.Timeout;
  readonly child;

  constructor(tool: Tool, endpoint: string | undefined, args: readonly string[], options: ToolOptions = {}) {
    const { file, prefix } = command(tool);
    const endpointArgs = endpoint === undefined || options.noEndpointFlag ? [] : [`--endpoints=${endpoint}`];
    this.child = spawn(file, [...prefix, ...endpointArgs, ...args], {
      env: { ...process.env, ETCDCTL_API: '3', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (s: string) => {
      this.stdout += s;
      this.poke();
    });
    this.child.stderr.on('data', (s: string) => {
      this.stderr += s;
      this.poke();
    });
    this.child.stdin.on('error', () => undefined);
    this.limit = setTimeout(() => {
      this.killedByLimit = true;
      this.child.kill('SIGKILL');
    }, options.timeoutMs ?? 20_000);
    this.closed = new Promise<number>((resolve) => {
      this.child.once('close', (code, signal) => {
        clearTimeout(this.limit);
        this.exitCode = code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
        this.poke();
        resolve(this.exitCode);
      });
    });
    if (options.stdin !== undefined) this.child.stdin.end(options.stdin);
  }

  private poke(): void {
    for (const l of [...this.listeners]) l();
  }

  write(text: string): void {
    this.child.stdin.write(text);
  }

  endInput(): void {
    this.child.stdin.end();
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /**
   * Resolves once `pred(stdout, stderr)` holds. Rejects if the process exits first or `timeoutMs` passes, with
   * what it printed, so a failing wait explains itself.
   */
  waitFor(pred: (stdout: string, stderr: string) => boolean, what = 'expected output', timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (pred(this.stdout, this.stderr)) return finish();
        if (this.exitCode !== undefined) finish(new Error(`process exited (${this.exitCode}) before ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
      };
      const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)), timeoutMs);
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Resolves with the result once the process exits by itself. */
  async exited(): Promise<ToolResult> {
    const code = await this.closed;
    return { stdout: this.stdout, stderr: this.stderr, code, timedOut: this.killedByLimit };
  }

  /** Sends `signal` (default SIGTERM) and resolves with the result once it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<ToolResult> {
    if (this.exitCode === undefined) this.child.kill(signal);
    return this.exited();
  }
}

export function startTool(tool: Tool, endpoint: string | undefined, args: readonly string[], options: ToolOptions = {}): ToolProcess {
  return new ToolProcess(tool, endpoint, args, options);
}

/** Runs a tool to completion (stdin: `options.stdin`, else empty). */
export function runTool(tool: Tool, endpoint: string | undefined, args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  return new ToolProcess(tool, endpoint, args, { ...options, stdin: options.stdin ?? '' }).exited();
}

/** The error lines a tool printed on stderr (etcdctl's zap retry log lines removed). */
export const errorLines = (stderr: string): string[] => cleanStderr(stderr).split('\n').filter((l) => l !== '');

/**
 * Runs latchctl's command line inside this process, through `run()` — the function the binary's main calls
 * before it flushes and exits — with stdin, stdout and stderr captured. A tenth of the cost of spawning the
 * binary, for scripts of many one-shot commands; everything that depends on the process itself (signals, exit,
 * interactive stdin, long-running commands) is tested through the binary.
 */
export async function runInProcess(endpoint: string | undefined, args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  const out: Buffer[] = [];
  const err: string[] = [];
  const stdin = options.stdin === undefined ? '' : options.stdin;
  const io = {
    out: (t: string | Uint8Array) => void out.push(Buffer.from(t)),
    err: (t: string) => void err.push(t),
    stdin: Readable.from([Buffer.from(stdin)]),
    isTTY: false,
  };
  const endpointArgs = endpoint === undefined || options.noEndpointFlag ? [] : [`--endpoints=${endpoint}`];
  const code = await runLatchctlMain([...endpointArgs, ...args], io, { ...process.env, ETCDCTL_API: '3', ...options.env });
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: err.join(''), code, timedOut: false };
}
