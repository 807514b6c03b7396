/**
 * etcdctl commands that do not exit on their own (`watch`, `lease keep-alive`, `elect`, `lock` without a command):
 * run one, feed its stdin as the test decides, collect its output until the test has seen enough, then stop it.
 *
 * ```ts
 * const r = await etcdctlUntil(endpoint, ['watch', '--rev=2', 'foo'], { until: (out) => out.split('\n').length > 6 });
 * r.stdout;   // everything printed before it was stopped (or exited)
 * r.stopped;  // true: the predicate was met and the process was killed; false: it exited by itself
 *
 * const w = etcdctlStream(endpoint, ['watch', '-i']);     // interactive: write lines when the test is ready
 * w.write('watch foo\n');
 * await w.waitFor((out) => out.includes('PUT'));
 * const r2 = await w.stop();
 * ```
 *
 * The wait is event-driven: the predicate is checked on every chunk of output, and a time limit (default 15 s)
 * only guards against a hung command; `timedOut` tells that the limit, not the predicate, ended the wait.
 */
import { spawn } from 'node:child_process';
import { ETCDCTL_BIN } from './etcdctl.js';

export interface StreamResult {
  stdout: string;
  stderr: string;
  /** Exit code if it exited by itself; null if it was stopped. */
  code: number | null;
  /** The test stopped it (predicate met, or `stop()` called). */
  stopped: boolean;
  /** The time limit ran out before the predicate was met. */
  timedOut: boolean;
}

export interface EtcdctlStream {
  /** Writes to etcdctl's stdin. */
  write(text: string): void;
  /** Closes etcdctl's stdin. */
  endInput(): void;
  /** Resolves when `pred(stdout)` holds (true) or the process exited / the time limit passed first (false). */
  waitFor(pred: (stdout: string) => boolean, timeoutMs?: number): Promise<boolean>;
  /** Stops the process (SIGTERM, SIGKILL after 2 s) unless it already exited; resolves with everything it printed. */
  stop(): Promise<StreamResult>;
  /** What it printed so far. */
  readonly stdout: string;
}

export function etcdctlStream(endpoint: string, args: readonly string[], options: { env?: Record<string, string> } = {}): EtcdctlStream {
  const child = spawn(ETCDCTL_BIN, [`--endpoints=${endpoint}`, '--dial-timeout=3s', ...args], {
    env: { ...process.env, ...options.env, ETCDCTL_API: '3' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let code: number | null = null;
  let exited = false;
  let stopped = false;
  let timedOut = false;
  const listeners = new Set<() => void>();
  const poke = (): void => {
    for (const l of [...listeners]) l();
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (s: string) => {
    stdout += s;
    poke();
  });
  child.stderr.on('data', (s: string) => {
    stderr += s;
  });
  child.stdin.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => {
    child.once('close', (c) => {
      exited = true;
      code = stopped ? null : c;
      poke();
      resolve();
    });
    child.once('error', () => {
      exited = true;
      poke();
      resolve();
    });
  });
  return {
    get stdout() {
      return stdout;
    },
    write: (text) => void child.stdin.write(text),
    endInput: () => child.stdin.end(),
    waitFor(pred, timeoutMs = 15_000) {
      return new Promise<boolean>((resolve) => {
        const check = (): void => {
          if (pred(stdout)) finish(true);
          else if (exited) finish(false);
        };
        const timer = setTimeout(() => {
          timedOut = true;
          finish(false);
        }, timeoutMs);
        const finish = (ok: boolean): void => {
          clearTimeout(timer);
          listeners.delete(check);
          resolve(ok);
        };
        listeners.add(check);
        check();
      });
    },
    async stop() {
      if (!exited) {
        stopped = true;
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), 2000);
        await closed;
        clearTimeout(force);
      }
      await closed;
      return { stdout, stderr, code, stopped, timedOut };
    },
  };
}

/** Runs etcdctl until `until(stdout)` holds (then stops it) or it exits by itself. */
export async function etcdctlUntil(
  endpoint: string,
  args: readonly string[],
  options: { until: (stdout: string) => boolean; stdin?: string; timeoutMs?: number; env?: Record<string, string> },
): Promise<StreamResult> {
  const s = etcdctlStream(endpoint, args, { env: options.env });
  if (options.stdin !== undefined) s.write(options.stdin);
  await s.waitFor(options.until, options.timeoutMs);
  return s.stop();
}

/** Counts watch events in etcdctl's simple output (each starts with a PUT or DELETE line). */
export function watchEventCount(stdout: string): number {
  // Only complete events count: the marker, the key and the value line, each ended by a newline. Output may
  // arrive in pieces, and stopping etcdctl after a bare "PUT" would cut the event short.
  const lines = stdout.split('\n');
  lines.pop(); // the text after the last newline is an unfinished line
  let n = 0;
  for (let i = 0; i < lines.length; i++) {
    if ((lines[i] === 'PUT' || lines[i] === 'DELETE') && i + 2 < lines.length) {
      n++;
      i += 2;
    }
  }
  return n;
}
