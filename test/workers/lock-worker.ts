/**
 * A lock-contending worker process built on `@latchkey/client`, for multi-process lock tests, interop tests with
 * etcd's Go Mutex / etcdctl lock, chaos runs and benchmarks. It prints one JSON line per step on stdout:
 *
 *   {"ev":"acquired","id":W,"token":"<create rev>","key":K,"t":<epoch ms>}
 *   {"ev":"write","id":W,"token":"…","ok":true,"value":N,"rev":"<commit rev>","t":…}   (ok:false + "error" on failure)
 *   {"ev":"released","id":W,"token":"…","t":…}
 *   {"ev":"lost","id":W,"token":"…","reason":"…","t":…}                                 (held.signal aborted)
 *   {"ev":"done","id":W}
 *
 * Usage (built into test/dist/workers/lock-worker.js by `npx tsc -b`):
 *   node lock-worker.js --endpoints E[,E…] --name L [--cycles N (0 = until killed)] [--ttl S] [--id W]
 *                       [--mode guarded|plain|unsafe|hold] [--hold-ms MS]
 * Modes, each incrementing the integer at `<name>-counter` once per cycle:
 *   guarded  read (linearizable), then a guarded write of value+1 that commits only while the lock is held;
 *   plain    read, then a plain put while holding the lock (what etcd's Go recipes do; for mixed interop runs);
 *   unsafe   read, then a plain put without taking the lock at all (negative control: updates get lost);
 *   hold     acquire once, report "lost" when held.signal aborts, and do one guarded write per "write" line on
 *            stdin (for session-loss tests under SIGSTOP).
 */
import { createInterface } from 'node:readline';
import { Client, type LockHold } from '@latchkey/client';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const endpoints = arg('endpoints', '127.0.0.1:2379').split(',');
const name = arg('name', '/lock-worker');
const cycles = Number(arg('cycles', '0'));
const ttl = Number(arg('ttl', '10'));
const id = arg('id', String(process.pid));
const mode = arg('mode', 'guarded');
const holdMs = Number(arg('hold-ms', '0'));
const counter = `${name}-counter`;

const emit = (o: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify({ ...o, id, t: Date.now() }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
};

const client = new Client({ endpoints, dialTimeoutMs: 2_000 });

async function readCounter(): Promise<number> {
  const v = await client.getString(counter);
  return v === undefined ? 0 : Number(v);
}

async function cycle(): Promise<void> {
  if (mode === 'unsafe') {
    const n = await readCounter();
    if (holdMs > 0) await new Promise((r) => setTimeout(r, holdMs));
    const r = await client.put(counter, String(n + 1));
    emit({ ev: 'write', token: '0', ok: true, value: n + 1, rev: r.header.revision });
    return;
  }
  const held = await client.lock.acquire(name, { ttl });
  emit({ ev: 'acquired', token: held.fencingToken, key: held.key });
  try {
    const n = await readCounter();
    if (holdMs > 0) await new Promise((r) => setTimeout(r, holdMs));
    if (mode === 'plain') {
      const r = await client.put(counter, String(n + 1));
      emit({ ev: 'write', token: held.fencingToken, ok: true, value: n + 1, rev: r.header.revision });
    } else {
      try {
        const r = await held.put(counter, String(n + 1));
        emit({ ev: 'write', token: held.fencingToken, ok: true, value: n + 1, rev: r.header.revision });
      } catch (err) {
        emit({ ev: 'write', token: held.fencingToken, ok: false, error: (err as Error).name, retryable: (err as { retryable?: boolean }).retryable === true });
      }
    }
  } finally {
    await held.release();
    emit({ ev: 'released', token: held.fencingToken });
  }
}

async function hold(): Promise<void> {
  const held: LockHold = await client.lock.acquire(name, { ttl });
  held.signal.addEventListener('abort', () => emit({ ev: 'lost', token: held.fencingToken, reason: String((held.signal.reason as Error)?.name) }), { once: true });
  emit({ ev: 'acquired', token: held.fencingToken, key: held.key });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() !== 'write') continue;
    try {
      const n = await readCounter();
      const r = await held.put(counter, String(n + 1));
      emit({ ev: 'write', token: held.fencingToken, ok: true, value: n + 1, rev: r.header.revision, signalAborted: held.signal.aborted });
    } catch (err) {
      emit({ ev: 'write', token: held.fencingToken, ok: false, error: (err as Error).name, signalAborted: held.signal.aborted });
    }
  }
}

try {
  if (mode === 'hold') await hold();
  else for (let i = 0; cycles === 0 || i < cycles; i++) await cycle();
  emit({ ev: 'done' });
  await client.lock.close();
  client.close();
} catch (err) {
  emit({ ev: 'error', error: `${(err as Error).name}: ${(err as Error).message}` });
  process.exitCode = 1;
  client.close();
}
