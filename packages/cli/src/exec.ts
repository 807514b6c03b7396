/**
 * Running a user's command (`lock name -- cmd`, `watch key -- cmd`) the way etcdctl's Go `exec.Command(...).Run()`
 * does: the command inherits stdout and stderr, and a failure is described in Go's words —
 * `exit status 3`, `signal: killed`, `exec: "nosuch": executable file not found in $PATH`,
 * `fork/exec /bin/nosuch: no such file or directory`.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';

/** Go's names for the signals a child commonly dies of (`signal: terminated`). */
const SIGNAL_TEXT: Partial<Record<NodeJS.Signals, string>> = {
  SIGKILL: 'killed',
  SIGTERM: 'terminated',
  SIGINT: 'interrupt',
  SIGHUP: 'hangup',
  SIGQUIT: 'quit',
  SIGABRT: 'aborted',
  SIGSEGV: 'segmentation fault',
  SIGPIPE: 'broken pipe',
  SIGUSR1: 'user defined signal 1',
  SIGUSR2: 'user defined signal 2',
};

export class ExecError extends Error {
  override name = 'ExecError';
}

/**
 * Runs `argv[0]` with `argv[1..]`: stdin from the null device (Go's nil Stdin), stdout and stderr inherited,
 * environment `env`. Resolves when it exits with status 0; rejects with an ExecError otherwise.
 * `signal` kills the child (SIGKILL, as Go's CommandContext does).
 */
export function runCommand(argv: readonly string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<void> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new ExecError('exec: no command'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
    const onAbort = (): void => void child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      if (err.code === 'ENOENT' && !file.includes('/')) reject(new ExecError(`exec: ${JSON.stringify(file)}: executable file not found in $PATH`));
      else if (err.code === 'ENOENT') reject(new ExecError(`fork/exec ${file}: no such file or directory`));
      else if (err.code === 'EACCES') reject(new ExecError(`fork/exec ${file}: permission denied`));
      else reject(new ExecError(`fork/exec ${file}: ${err.message}`));
    });
    child.once('exit', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (sig) reject(new ExecError(`signal: ${SIGNAL_TEXT[sig] ?? `${sig} (${os.constants.signals[sig] ?? '?'})`}`));
      else if (code !== 0) reject(new ExecError(`exit status ${code}`));
      else resolve();
    });
  });
}
