/**
 * etcdctl 3.4 conformance for put/get/del: each test starts a fresh real etcd and a fresh latchkey, sends both the
 * same etcdctl commands in the same order and compares exit code, stdout and stderr after masking (see pair.ts).
 */
import { describe, test } from 'vitest';
import { useMembers } from '../harness/vitest.js';
import { ConformancePair } from './pair.js';

const members = useMembers();

describe('etcdctl kv', () => {
  test('get - output forms: value only, ranges, prefix with limit, keys only, from-key, serializable, json and fields', async () => {
    const p = await ConformancePair.start(members);
    await p.run(['put', 'foo', 'bar']);
    await p.run(['put', 'foo1', 'bar1']);
    await p.run(['put', 'foo2', 'bar2']);
    await p.run(['put', 'foo3', 'bar3']);
    await p.run(['put', 'fop', 'after-prefix']);
    await p.run(['put', 'zoo', 'z', '-w', 'json']);
    await p.run(['put', 'zoo', 'z2', '-w', 'fields']);

    await p.run(['get', 'foo']);
    await p.run(['get', 'foo', '--print-value-only']);
    await p.run(['get', 'foo', 'foo3']);
    await p.run(['get', 'foo', 'foo3', '--print-value-only']);
    await p.run(['get', 'foo', 'foo3', '-w', 'json']);
    await p.run(['get', '--prefix', '--limit=2', 'foo']);
    await p.run(['get', '--prefix', '--limit=2', 'foo', '-w', 'json']);
    await p.run(['get', '--prefix', 'foo', '--limit=10', '-w', 'json']);
    await p.run(['get', 'foo', '-w', 'json']);
    await p.run(['get', 'foo', '-w', 'fields']);
    await p.run(['get', 'nosuch']);
    await p.run(['get', 'nosuch', '-w', 'json']);
    await p.run(['get', 'nosuch', '--prefix', '-w', 'json']);
    await p.run(['get', '--keys-only', '--prefix', 'foo']);
    await p.run(['get', '--keys-only', '--prefix', 'foo', '-w', 'json']);
    await p.run(['get', '--keys-only', 'foo']);
    await p.run(['get', '--from-key', 'foo2']);
    await p.run(['get', '--from-key', 'foo2', '--limit=2']);
    await p.run(['get', '--from-key', '']);
    await p.run(['get', '--from-key', '', '--keys-only', '-w', 'json']);
    await p.run(['get', '--prefix', '']);
    await p.run(['get', 'foo', '--consistency=s']);
    await p.run(['get', '--prefix', 'foo', '--consistency=s', '-w', 'json']);
    await p.run(['get', 'foo', '--consistency=l', '-w', 'json']);
    await p.run(['get', 'zoo', 'foo'], { note: 'key >= range_end: nothing' });
    await p.run(['get', 'foo', 'foo', '-w', 'json'], { note: 'key == range_end: nothing' });
    await p.run(['get', 'a', 'zzz', '--limit=3', '-w', 'json']);
  });

  test('get - every revision of a history (the overview sequence, then delete and re-create)', async () => {
    const p = await ConformancePair.start(members);
    await p.run(['put', 'foo', 'bar']); // rev 2
    await p.run(['put', 'foo1', 'bar1']); // rev 3
    await p.run(['put', 'foo', 'bar_new']); // rev 4
    await p.run(['put', 'foo1', 'bar1_new']); // rev 5
    for (let rev = 0; rev <= 5; rev++) {
      await p.run(['get', '--prefix', `--rev=${rev}`, 'foo']);
      await p.run(['get', '--prefix', `--rev=${rev}`, 'foo', '-w', 'json']);
    }
    await p.run(['get', '--prefix', '--rev=6', 'foo'], { code: 1, note: 'future revision' });
    await p.run(['get', '--prefix', '--rev=1000', 'foo', '-w', 'json'], { code: 1, note: 'future revision' });

    await p.run(['del', 'foo']); // rev 6
    await p.run(['put', 'foo', 'reborn']); // rev 7: version 1, new create_revision
    await p.run(['put', 'foo', 'reborn2']); // rev 8
    for (let rev = 1; rev <= 8; rev++) {
      await p.run(['get', 'foo', `--rev=${rev}`, '-w', 'json']);
      await p.run(['get', '--prefix', 'foo', `--rev=${rev}`, '--keys-only']);
    }
    await p.run(['get', '--from-key', '', '--rev=6', '-w', 'json']);
    await p.run(['get', '--prefix', 'foo', '--rev=4', '--limit=1', '-w', 'json']);
  });

  test('get - sort by every target in every order, with and without limit', async () => {
    const p = await ConformancePair.start(members);
    // Chosen so that each target orders the keys differently:
    //   key:    s/0 s/a s/b s/c       create: s/a(2) s/b(3) s/c(4) s/0(8)
    //   mod:    s/b(3) s/c(5) s/a(7) s/0(8)   value: s/0(v0) s/b(v1) s/c(v2) s/a(v3)
    //   version: s/0(1) s/b(1) s/c(2) s/a(3) — a tie between s/0 and s/b
    await p.run(['put', 's/a', 'v3']);
    await p.run(['put', 's/b', 'v1']);
    await p.run(['put', 's/c', 'v2']);
    await p.run(['put', 's/c', 'v2']);
    await p.run(['put', 's/a', 'v3']);
    await p.run(['put', 's/a', 'v3']);
    await p.run(['put', 's/0', 'v0']);
    for (const target of ['KEY', 'VERSION', 'CREATE', 'MODIFY', 'VALUE']) {
      for (const order of ['ASCEND', 'DESCEND', undefined]) {
        const args = ['get', '--prefix', 's/', `--sort-by=${target}`, ...(order ? [`--order=${order}`] : [])];
        await p.run(args);
        await p.run([...args, '--limit=2', '-w', 'json']);
      }
    }
    await p.run(['get', '--prefix', 's/', '--order=DESCEND']);
    await p.run(['get', '--prefix', 's/', '--order=ASCEND', '--keys-only']);
    await p.run(['get', '--from-key', 's/a', '--order=DESCEND', '--limit=1']);
    await p.run(['get', '--prefix', 's/', '--sort-by=CREATE', '--order=DESCEND', '--rev=5']);
    await p.run(['get', '--prefix', 's/', '--sort-by=NOSUCH'], { code: 4, note: 'rejected by etcdctl itself' });
    await p.run(['get', '--prefix', 's/', '--order=SIDEWAYS'], { code: 4, note: 'rejected by etcdctl itself' });
  });

  test('del - single key, range, prefix, from-key, prev-kv, and revisions after deletes', async () => {
    const p = await ConformancePair.start(members);
    for (const k of ['a', 'b', 'c', 'd1', 'd2', 'd3', 'e', 'f/1', 'f/2', 'g', 'h']) await p.run(['put', k, `val-${k}`]);
    await p.run(['del', 'nosuch'], { note: 'deletes nothing: no revision bump' });
    await p.run(['del', 'nosuch', '-w', 'json']);
    await p.run(['get', 'a', '-w', 'json']);
    await p.run(['del', 'a']);
    await p.run(['del', 'a'], { note: 'already deleted' });
    await p.run(['del', 'b', '--prev-kv']);
    await p.run(['del', 'c', '--prev-kv', '-w', 'json']);
    await p.run(['del', 'd', '--prefix', '--prev-kv']);
    await p.run(['del', 'e', 'g', '-w', 'json'], { note: 'range [e, g): e, f/1, f/2' });
    await p.run(['del', '--from-key', 'g', '--prev-kv', '-w', 'json']);
    await p.run(['get', '--from-key', '', '-w', 'json']);
    await p.run(['get', 'd1', '--rev=5', '-w', 'json']);
    await p.run(['put', 'x1', '1']);
    await p.run(['put', 'x2', '2']);
    await p.run(['del', '--prefix', '', '--prev-kv'], { note: 'everything' });
    await p.run(['get', '--prefix', '', '-w', 'json']);
    await p.run(['del', '--from-key', '', '-w', 'json'], { note: 'nothing left' });
  });

  test('put - prev-kv, ignore-value and ignore-lease, unknown lease, and the empty key', async () => {
    const p = await ConformancePair.start(members);
    await p.run(['put', 'k', 'v1', '--prev-kv'], { note: 'new key: no previous kv' });
    await p.run(['put', 'k', 'v2', '--prev-kv']);
    await p.run(['put', 'k', 'v3', '--prev-kv', '-w', 'json']);
    await p.run(['put', 'k2', 'x', '--prev-kv', '-w', 'json']);
    await p.run(['put', 'missing', '--ignore-value'], { code: 1 });
    await p.run(['put', 'missing', 'v', '--ignore-lease'], { code: 1 });
    await p.run(['put', 'missing', '--ignore-value', '--ignore-lease'], { code: 1 });
    await p.run(['get', 'missing', '-w', 'json']);
    await p.run(['put', 'k', '--ignore-value', '--prev-kv'], { note: 'keeps the value, bumps mod_revision and version' });
    await p.run(['put', 'k', 'v4', '--ignore-lease', '-w', 'json']);
    await p.run(['get', 'k', '-w', 'json']);
    await p.run(['put', 'k', 'v', '--ignore-value'], { code: 128, note: 'rejected by etcdctl itself' });
    await p.run(['put', 'k', 'v', '--lease=1234abcd'], { code: 1, note: 'unknown lease' });
    await p.run(['put', '', 'v'], { code: 1, note: 'empty key' });
    await p.run(['get', ''], { code: 1, note: 'empty key' });
    await p.run(['del', ''], { code: 1, note: 'empty key' });
    await p.run(['put', 'k3'], { stdin: 'from stdin\n', note: 'value from stdin' });
    await p.run(['put', 'k4', '--', '-dash-value']);
    await p.run(['put', 'sp ace', 'two words']);
    await p.run(['put', 'bin\u00ff', '\u00e9t\u00e9']);
    await p.run(['get', '--from-key', 'k', '-w', 'json']);
    await p.run(['get', '--from-key', 'k']);
  });
});
