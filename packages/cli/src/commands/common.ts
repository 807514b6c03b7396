/** Small helpers shared by the commands: unary calls under the command timeout, ID parsing, key bytes. */
import type { Client } from '@latchkey/client';
import type { Init, MethodDesc, RequestOf, ResponseOf } from '@latchkey/proto';
import type { Context } from '../context.js';
import { CliError, ExitCode, toCliError } from '../errors.js';
import { parseGoInt, parseGoUint } from '../flags.js';

/**
 * One unary RPC bounded by `--command-timeout` (etcdctl's commandCtx). A failure becomes a CliError with
 * `code` (exit 1 unless said otherwise), worded as etcdctl words it, optionally wrapped (`failed to grant lease (…)`).
 */
export async function unary<M extends MethodDesc>(
  ctx: Context,
  client: Client,
  method: M,
  request: Init<RequestOf<M>>,
  options: { idempotent?: boolean; code?: number; wrap?: (message: string) => string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ResponseOf<M>> {
  try {
    return await client.call(method, request, {
      timeoutMs: options.timeoutMs ?? ctx.commandTimeoutMs,
      idempotent: options.idempotent ?? false,
      signal: options.signal,
    });
  } catch (err) {
    throw toCliError(err, options.code ?? ExitCode.Error, options.wrap);
  }
}

/** etcdctl's lease ID argument: hex, signed 64-bit (`strconv.ParseInt(arg, 16, 64)`). */
export function parseLeaseArg(arg: string): bigint {
  try {
    return parseGoInt(arg, 16, 64);
  } catch (err) {
    throw new CliError(ExitCode.BadArgs, `bad lease ID arg (${(err as Error).message}), expecting ID in Hex`);
  }
}

/** etcdctl's member ID argument: hex, unsigned 64-bit. */
export function parseMemberIdArg(arg: string): bigint {
  try {
    return parseGoUint(arg, 16, 64);
  } catch (err) {
    throw new CliError(ExitCode.BadArgs, `bad member ID arg (${(err as Error).message}), expecting ID in Hex`);
  }
}

/** Waits for SIGINT or SIGTERM (etcdctl's lock/elect end on either); resolves with the signal's name. */
export function untilSignal(signal?: AbortSignal): Promise<NodeJS.Signals | 'aborted'> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(s);
    };
    const onInt = (): void => on('SIGINT');
    const onTerm = (): void => on('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    signal?.addEventListener(
      'abort',
      () => {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        resolve('aborted');
      },
      { once: true },
    );
  });
}
