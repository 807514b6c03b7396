#!/usr/bin/env node
// npm run cluster: a local 3-member latchkey cluster, like etcd's Procfile (clients on 2379, 22379, 32379; peers on
// 2380, 22380, 32380; data in ./data/cluster/m1..m3). Prints the endpoints, prefixes each member's log lines with
// its name, and stops every member on Ctrl-C. `--members N` and `--base-port P` change the defaults.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { members: { type: 'string', default: '3' }, 'base-port': { type: 'string', default: '2379' } } });
const n = Number(values.members);
const base = Number(values['base-port']);
const ports = Array.from({ length: n }, (_, i) => (i === 0 ? base : base + 10000 * (i + 1)));
const cluster = ports.map((p, i) => `m${i + 1}=http://127.0.0.1:${p + 1}`).join(',');
const children = ports.map((p, i) => {
  const name = `m${i + 1}`;
  const dataDir = join(root, 'data', 'cluster', name);
  mkdirSync(dataDir, { recursive: true });
  const child = spawn(process.execPath, [
    join(root, 'packages/server/bin/latchkey.js'),
    '--name', name, '--data-dir', dataDir,
    '--listen-client-urls', `http://127.0.0.1:${p}`, '--advertise-client-urls', `http://127.0.0.1:${p}`,
    '--listen-peer-urls', `http://127.0.0.1:${p + 1}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${p + 1}`,
    '--initial-cluster', cluster, '--initial-cluster-token', 'latchkey-local', '--initial-cluster-state', 'new',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [child.stdout, child.stderr]) {
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop();
      for (const l of lines) process.stdout.write(`${name} | ${l}\n`);
    });
  }
  child.on('exit', (code, sig) => process.stdout.write(`${name} exited (${sig ?? code})\n`));
  return child;
});
const endpoints = ports.map((p) => `127.0.0.1:${p}`).join(',');
process.stdout.write(`latchkey cluster of ${n} members\nendpoints: ${endpoints}\ntry: ETCDCTL_API=3 etcdctl --endpoints=${endpoints} endpoint status -w table\n`);
const stop = () => {
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
