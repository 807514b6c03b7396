/**
 * The crash test's writer: a standalone process that keeps many unique-key Puts in flight against one server and
 * reports every outcome on stdout, one JSON object per line:
 *
 *   {"t":"sent","seq":12}                                   written before the Put is issued
 *   {"t":"ack","seq":12,"key":"crash/00000012","value":"…","rev":"345"}   the server acknowledged it at revision 345
 *   {"t":"err","seq":12,"code":14,"details":"…"}            the Put failed (its outcome is unknown)
 *   {"t":"done","sent":N}                                   after stdin closed and every outstanding Put settled
 *
 * Each Put uses a fresh key (`keyFor(seq)`) holding `valueFor(key)`; a failed key is never retried, so every key
 * is written at most once and an acknowledged key must hold exactly its value at exactly the acked revision.
 * The server may die and come back at any time: the client reconnects on its own, and workers back off 20 ms
 * after an error.
 *
 * Usage (built by `npx tsc -b` into test/dist/crash/writer.js):
 *   node test/dist/crash/writer.js --endpoint 127.0.0.1:2379 [--concurrency 32] [--timeout-ms 3000]
 * Close stdin (or send SIGTERM) to stop it.
 */
import { KvClient, utf8 } from '../harness/kv-client.js';
import { keyFor, valueFor } from './values.js';

interface Options {
  endpoint: string;
  concurrency: number;
  timeoutMs: number;
}

function parseArgs(argv: string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const endpoint = get('endpoint');
  if (endpoint === undefined) throw new Error('writer: --endpoint host:port is required');
  return { endpoint, concurrency: Number(get('concurrency') ?? 32), timeoutMs: Number(get('timeout-ms') ?? 3_000) };
}

const out: string[] = [];
let flushScheduled = false;
/** Lines are batched per tick (one write call), in the order they were produced. */
function emit(obj: Record<string, unknown>): void {
  out.push(JSON.stringify(obj));
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      process.stdout.write(`${out.splice(0).join('\n')}\n`);
    });
  }
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const kv = new KvClient(options.endpoint);
  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  process.once('SIGTERM', stop);

  let nextSeq = 0;
  const worker = async (): Promise<void> => {
    while (!stopping) {
      const seq = nextSeq++;
      const key = keyFor(seq);
      const value = valueFor(key);
      emit({ t: 'sent', seq });
      try {
        const res = await kv.put({ key: utf8(key), value: utf8(value) }, { timeoutMs: options.timeoutMs });
        emit({ t: 'ack', seq, key, value, rev: String(res.header?.revision ?? 0n) });
      } catch (err) {
        const e = err as { code?: number; details?: string; message?: string };
        emit({ t: 'err', seq, code: e.code ?? -1, details: e.details ?? e.message ?? String(err) });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  emit({ t: 'ready' });
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  kv.close();
  emit({ t: 'done', sent: nextSeq });
}

main().catch((err: unknown) => {
  process.stderr.write(`writer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
