/**
 * Exit codes and error lines, as etcdctl has them: every failure ends the process with one `Error: <message>` line
 * on stderr and one of etcdctl's exit codes (ctlv3/command/error.go), never a stack trace.
 */
import { DeadlineExceededError, AbortError, LatchkeyError, UnavailableError, GrpcCode } from '@latchkey/client';
import { GO_CODE_NAMES } from '@latchkey/proto';

/** etcdctl's exit codes. */
export const ExitCode = {
  Success: 0,
  Error: 1,
  BadConnection: 2,
  /** Malformed `txn` or `watch -i` input (including EOF). */
  InvalidInput: 3,
  /** A valid flag with an unsupported value (`-w yaml`, `--consistency=x`). */
  BadFeature: 4,
  /** `watch` canceled by the server, `snapshot save` failures. */
  Interrupted: 5,
  IO: 6,
  /** Missing or malformed arguments. */
  BadArgs: 128,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure that ends the command with `Error: <message>` and `code`. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    readonly code: number,
    message: string,
    options?: { cause?: unknown; /** Print nothing (the command already reported). */ silent?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.silent = options?.silent ?? false;
  }
  readonly silent: boolean;
}

/** Exits with `code` and no further output (the command printed its own report). */
export function silentExit(code: number): CliError {
  return new CliError(code, '', { silent: true });
}

/**
 * The text etcdctl (clientv3) prints for a failed call:
 *  - an etcd error the server named (`etcdserver: requested lease not found`): the server's message;
 *  - a deadline, or endpoints that never answered within it: `context deadline exceeded` (clientv3 does not
 *    fail fast on a dead endpoint; the call waits for the command timeout);
 *  - a canceled call: `context canceled`;
 *  - any other gRPC status: `rpc error: code = <Name> desc = <details>`.
 */
export function describeError(err: unknown): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof DeadlineExceededError) return 'context deadline exceeded';
  if (err instanceof AbortError) return 'context canceled';
  if (err instanceof UnavailableError && err.etcdError === undefined) return 'context deadline exceeded';
  if (err instanceof LatchkeyError) {
    if (err.etcdError !== undefined) return err.message;
    if (err.code === GrpcCode.UNKNOWN && !(err.cause && typeof (err.cause as { code?: unknown }).code === 'number')) return err.message;
    return `rpc error: code = ${GO_CODE_NAMES[err.code] ?? `Code(${err.code})`} desc = ${err.message}`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/** `err` as a CliError with `code` (kept when it already is one). */
export function toCliError(err: unknown, code: number, wrap?: (message: string) => string): CliError {
  if (err instanceof CliError) return err;
  const message = describeError(err);
  return new CliError(code, wrap ? wrap(message) : message, { cause: err });
}
