#!/usr/bin/env node
/**
 * Config watching: keep an in-memory copy of every key under a prefix, current from one read plus a watch from
 * the next revision (nothing missed, nothing seen twice, across reconnects and endpoint failover). If the history
 * the watch needs was compacted while it was away, read everything again.
 *
 *   node examples/config-watch.mjs [--endpoints 127.0.0.1:2379] [--prefix /examples/config/] [--demo]
 *
 * Without --demo it prints the config and every change until Ctrl-C; change it from another shell with
 *   etcdctl put /examples/config/log-level debug
 * With --demo it makes a few changes itself, waits until it has seen each of them, and exits.
 */
import { parseArgs } from 'node:util';
import { Client, CompactedError, Op } from '@latchkey/client';

const { values: opt } = parseArgs({
  options: {
    endpoints: { type: 'string', default: process.env.ENDPOINTS ?? '127.0.0.1:2379' },
    prefix: { type: 'string', default: '/examples/config/' },
    demo: { type: 'boolean', default: false },
  },
});
const client = new Client({ endpoints: opt.endpoints.split(',') });
const stop = new AbortController();
process.once('SIGINT', () => stop.abort());

/** Follows `prefix`: calls `onChange(config, changedKeys, revision)` after the first read and every change. */
async function follow(prefix, onChange, signal) {
  const config = new Map();
  while (!signal.aborted) {
    const r = await client.range(prefix, { prefix: true, signal });
    config.clear();
    for (const kv of r.kvs) config.set(Buffer.from(kv.key).toString().slice(prefix.length), Buffer.from(kv.value).toString());
    onChange(config, [...config.keys()], r.header.revision);
    try {
      for await (const batch of client.watch(prefix, { prefix: true, startRevision: r.header.revision + 1n, signal }).batches()) {
        const changed = [];
        for (const ev of batch.events) {
          const k = ev.key.slice(prefix.length);
          if (ev.type === 'put') config.set(k, ev.value);
          else config.delete(k);
          changed.push(k);
        }
        onChange(config, changed, batch.events.at(-1).revision);
      }
    } catch (err) {
      if (!(err instanceof CompactedError)) throw err;
      console.log(`(history compacted at ${err.compactRevision}: reading everything again)`);
    }
  }
}

const seen = [];
let notify = () => {};
const following = follow(
  opt.prefix,
  (config, changed, rev) => {
    const text = [...config].map(([k, v]) => `${k}=${v}`).join(' ') || '(empty)';
    console.log(`config @${rev} [${changed.join(',')}]: ${text}`);
    seen.push(new Map(config));
    notify();
  },
  stop.signal,
).catch((err) => {
  if (!stop.signal.aborted) throw err;
});

if (opt.demo) {
  /** Waits until the followed config satisfies `pred`. */
  const until = (pred) => new Promise((resolve) => {
    const check = () => {
      if (seen.length > 0 && pred(seen.at(-1))) resolve();
    };
    notify = check;
    check();
  });
  await client.delete(opt.prefix, { prefix: true });
  await until((c) => c.size === 0);
  await client.put(`${opt.prefix}log-level`, 'info');
  await client.put(`${opt.prefix}max-connections`, '100');
  await until((c) => c.get('max-connections') === '100');
  // Two changes in one transaction arrive as one batch (one revision).
  await client.txn().success(Op.put(`${opt.prefix}log-level`, 'debug'), Op.delete(`${opt.prefix}max-connections`)).commit();
  await until((c) => c.get('log-level') === 'debug' && !c.has('max-connections'));
  stop.abort();
}
await following;
client.close();
