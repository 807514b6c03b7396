/**
 * etcdctl's security and quota commands against a real etcd 3.4 and latchkey, compared after masking:
 * users, roles, permissions (key, --prefix, --from-key), auth enable/disable, what a user with and without
 * permission may do (every KV kind, txn ops, watch, lease, member list), wrong passwords, root rules; and the
 * NOSPACE alarm cycle under --quota-backend-bytes (fill → alarm → reads still work → compact, defrag, disarm → writes).
 */
import { describe, expect, it } from 'vitest';
import { useMembers } from '../harness/vitest.js';
import { ConformancePair } from './pair.js';

const members = useMembers();
const root = ['--user', 'root:rootpw'];
const alice = ['--user', 'alice:alicepw'];
const bob = ['--user', 'bob:bobpw'];

describe('etcdctl - users, roles and auth', () => {
  it('user and role administration, then permission checks with auth enabled', async () => {
    const p = await ConformancePair.start(members);
    // Administration before auth is enabled.
    await p.run(['user', 'add', 'root:rootpw', '--interactive=false']);
    await p.run(['user', 'add', 'alice:alicepw', '--interactive=false']);
    await p.run(['user', 'add', 'bob:bobpw', '--interactive=false']);
    await p.run(['user', 'add', 'alice:again', '--interactive=false'], { code: 1, note: 'duplicate user' });
    await p.run(['role', 'add', 'reader']);
    await p.run(['role', 'add', 'writer']);
    await p.run(['role', 'add', 'reader'], { code: 1, note: 'duplicate role' });
    await p.run(['role', 'grant-permission', 'reader', 'read', 'app/', '--prefix=true']);
    await p.run(['role', 'grant-permission', 'writer', 'readwrite', 'app/', '--prefix=true']);
    await p.run(['role', 'grant-permission', 'writer', 'write', 'z', '--from-key']);
    await p.run(['role', 'grant-permission', 'writer', 'readwrite', 'k1', 'k5']);
    await p.run(['role', 'get', 'writer']);
    await p.run(['role', 'get', 'reader']);
    await p.run(['role', 'list']);
    await p.run(['user', 'grant-role', 'alice', 'writer']);
    await p.run(['user', 'grant-role', 'bob', 'reader']);
    await p.run(['user', 'grant-role', 'bob', 'nosuchrole'], { code: 1 });
    await p.run(['user', 'get', 'alice']);
    await p.run(['user', 'get', 'alice', '--detail']);
    await p.run(['user', 'list']);
    await p.run(['auth', 'enable'], { note: 'etcdctl grants root the root role and retries' });
    await p.run(['auth', 'enable'], { code: 1, note: 'already enabled: needs an admin user' });
    await p.run(['user', 'get', 'root', ...root]);
    // With auth on.
    await p.run(['put', 'app/x', '1'], { code: 1, note: 'no user' });
    await p.run(['put', 'app/x', '1', ...root]);
    await p.run(['put', 'app/x', '2', ...alice]);
    await p.run(['put', 'app/x', '3', ...bob], { code: 1, note: 'reader cannot write' });
    await p.run(['get', 'app/x', ...bob]);
    await p.run(['get', 'app/', '--prefix', ...bob]);
    await p.run(['get', 'other', ...bob], { code: 1 });
    await p.run(['put', 'zz', 'v', ...alice]);
    await p.run(['get', 'zz', ...alice], { code: 1, note: 'write-only from-key range' });
    await p.run(['put', 'k3', 'v', ...alice]);
    await p.run(['del', 'k1', 'k5', ...alice]);
    await p.run(['del', 'k1', 'k9', ...alice], { code: 1, note: 'range wider than the permission' });
    await p.run(['txn', ...alice], { stdin: 'value("app/x") = "2"\n\nput app/x 5\n\nput other 1\n\n', code: 1, note: 'failure branch op not permitted' });
    await p.run(['txn', ...alice], { stdin: 'value("app/x") = "2"\n\nput app/x 5\n\nget app/x\n\n' });
    await p.run(['lease', 'grant', '60', ...alice]);
    await p.run((side) => ['put', 'other', 'v', `--lease=${p.lease(side, 0)}`, ...root]);
    await p.run((side) => ['lease', 'revoke', p.lease(side, 0), ...alice], { code: 1, note: 'lease holds a key alice may not write' });
    await p.run((side) => ['lease', 'revoke', p.lease(side, 0), ...root]);
    await p.run(['member', 'list', ...bob]);
    await p.run(['user', 'add', 'carol:pw', '--interactive=false', ...alice], { code: 1, note: 'admin needs root' });
    await p.run(['get', 'app/x', '--user', 'alice:wrong'], { code: 2, note: 'wrong password: etcdctl exits 2 (bad connection)' });
    await p.run(['user', 'passwd', 'alice', '--interactive=false', ...root], { stdin: 'newpw\n' });
    await p.run(['get', 'app/x', '--user', 'alice:newpw']);
    await p.run(['user', 'revoke-role', 'alice', 'writer', ...root]);
    await p.run(['put', 'app/x', '9', '--user', 'alice:newpw'], { code: 1 });
    await p.run(['role', 'revoke-permission', 'reader', 'app/', '--prefix=true', ...root]);
    await p.run(['get', 'app/x', ...bob], { code: 1 });
    await p.run(['role', 'delete', 'writer', ...root]);
    await p.run(['user', 'delete', 'bob', ...root]);
    await p.run(['user', 'list', ...root]);
    await p.run(['user', 'revoke-role', 'root', 'root', ...root], { code: 1, note: 'root keeps its role' });
    await p.run(['auth', 'disable', ...root]);
    await p.run(['put', 'app/x', 'free']);
    await p.run(['get', 'app/x']);
  }, 120_000);
});

describe('etcdctl - quota', () => {
  it('NOSPACE: writes fail, reads work, compaction + defrag + alarm disarm restore writes', async () => {
    const p = await ConformancePair.start(members, ['--quota-backend-bytes', String(4 * 1024 * 1024)]);
    const big = 'x'.repeat(100 * 1024); // one argv string stays under Linux's 128 KiB limit
    let code = 0;
    let i = 0;
    // Fill with 100 KiB values until the quota is hit (on both; the number of puts may differ: sizes are backend-specific).
    for (const m of [p.etcd, p.latchkey]) {
      const { etcdctl } = await import('../harness/etcdctl.js');
      for (i = 0, code = 0; code === 0 && i < 200; i++) code = (await etcdctl(m.endpoint, ['put', `fill${i % 4}`, big])).code;
      expect(code, `${m.kind} reached the quota`).not.toBe(0);
    }
    await p.run(['put', 'k', 'v'], { code: 1, note: 'database space exceeded' });
    await p.run(['alarm', 'list']);
    await p.run(['get', 'fill0', '--keys-only']);
    await p.run(['del', 'fill', '--prefix'], { note: 'deletes are still allowed under NOSPACE' });
    await p.run(['put', 'k', 'v'], { code: 1, note: 'still NOSPACE until disarmed' });
    const rev = async (side: 'etcd' | 'latchkey'): Promise<string> => {
      const { etcdctl } = await import('../harness/etcdctl.js');
      const r = await etcdctl(side === 'etcd' ? p.etcd.endpoint : p.latchkey.endpoint, ['get', 'fill0', '-w', 'json']);
      return String((JSON.parse(r.stdout) as { header: { revision: number } }).header.revision);
    };
    const revs = { etcd: await rev('etcd'), latchkey: await rev('latchkey') };
    // The fill took a backend-specific number of puts, so the revisions differ: compact each side directly.
    const { etcdctl } = await import('../harness/etcdctl.js');
    expect((await etcdctl(p.etcd.endpoint, ['compaction', revs.etcd])).code).toBe(0);
    expect((await etcdctl(p.latchkey.endpoint, ['compaction', revs.latchkey])).code).toBe(0);
    await p.run(['defrag']);
    await p.run(['alarm', 'disarm']);
    await p.run(['alarm', 'list']);
    await p.run(['put', 'k', 'v']);
    await p.run(['get', 'k']);
  }, 180_000);
});
