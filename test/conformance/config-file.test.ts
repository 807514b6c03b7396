/**
 * --config-file, latchkey against etcd 3.4: each is started with the harness's usual flags plus --config-file
 * naming a YAML file in etcd's format. The file must win over the flags (its name and data directory are not the
 * flags'), keys the server does not know are ignored, and both serve under the file's settings.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { etcdctl } from '../harness/etcdctl.js';
import { freePorts } from '../harness/ports.js';
import { Member, type MemberKind } from '../harness/processes.js';

const started: Member[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(started.map((m) => m.dispose()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function withConfigFile(kind: MemberKind): Promise<{ memberName: string; dataDirUsed: boolean; value: string }> {
  const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
  const dir = mkdtempSync(path.join(os.tmpdir(), `latchkey-config-file-${kind}-`));
  dirs.push(dir);
  const dataDir = path.join(dir, 'from-file.data');
  const file = path.join(dir, 'etcd.conf.yml');
  writeFileSync(
    file,
    [
      "name: 'from-file'",
      `data-dir: ${dataDir}`,
      `listen-client-urls: http://127.0.0.1:${clientPort}`,
      `advertise-client-urls: http://127.0.0.1:${clientPort}`,
      `listen-peer-urls: http://127.0.0.1:${peerPort}`,
      `initial-advertise-peer-urls: http://127.0.0.1:${peerPort}`,
      `initial-cluster: from-file=http://127.0.0.1:${peerPort}`,
      "initial-cluster-token: 'file-token'",
      "initial-cluster-state: 'new'",
      'snapshot-count: 10000',
      'enable-v2: false',
      'discovery:',
      'log-outputs: [stderr]',
      'client-transport-security:',
      '  client-cert-auth: false',
      '  auto-tls: false',
      'peer-transport-security:',
      '  auto-tls: false',
      // A key neither server knows: etcd ignores it, and so must latchkey.
      'no-such-setting: 42',
      '',
    ].join('\n'),
  );
  const m = Member.prepare({ kind, name: 'from-flags', clientPort, peerPort, extraArgs: ['--config-file', file] });
  started.push(m);
  await m.launch();
  await etcdctl(m.endpoint, ['put', 'k', 'v']);
  const list = await etcdctl(m.endpoint, ['member', 'list']);
  const value = await etcdctl(m.endpoint, ['get', 'k', '--print-value-only']);
  return { memberName: list.stdout.split(', ')[2] ?? '', dataDirUsed: existsSync(dataDir) && !existsSync(m.dataDir), value: value.stdout.trim() };
}

describe('config file - the same settings as etcd takes from it', () => {
  it('the file’s name and data directory win over the flags; unknown keys are ignored', async () => {
    const etcd = await withConfigFile('etcd');
    const latchkey = await withConfigFile('latchkey');
    expect(etcd).toEqual({ memberName: 'from-file', dataDirUsed: true, value: 'v' });
    expect(latchkey).toEqual(etcd);
  }, 60_000);
});
