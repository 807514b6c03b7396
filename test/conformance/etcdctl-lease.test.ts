/**
 * etcdctl 3.4 conformance for leases as far as KV output shows them: granted ids differ between the servers (the
 * pair learns each server's ids from `lease grant` and masks them by value), everything else must match.
 */
import { describe, test } from 'vitest';
import { useMembers } from '../harness/vitest.js';
import { ConformancePair } from './pair.js';

const members = useMembers();

describe('etcdctl lease', () => {
  test('lease - grant, attach keys, time-to-live, keep-alive once, revoke deletes the keys in one revision', async () => {
    const p = await ConformancePair.start(members);
    await p.run(['lease', 'grant', '100']);
    await p.run(['lease', 'grant', '100', '-w', 'json']);
    await p.run(['lease', 'grant', '9000000001'], { code: 1, note: 'too large' });
    await p.run((side) => ['put', 'l/a', '1', `--lease=${p.lease(side, 0)}`]);
    await p.run((side) => ['put', 'l/b', '2', `--lease=${p.lease(side, 0)}`]);
    await p.run(['put', 'l/c', '3']);
    await p.run(['get', '--prefix', 'l/', '-w', 'json']);
    await p.run((side) => ['lease', 'timetolive', p.lease(side, 0), '--keys']);
    await p.run((side) => ['lease', 'timetolive', p.lease(side, 0), '--keys', '-w', 'json']);
    await p.run((side) => ['lease', 'keep-alive', '--once', p.lease(side, 0)]);
    await p.run(['lease', 'list']);
    await p.run(['put', 'l/a', 'detached', '--prev-kv', '-w', 'json'], { note: 'a put without --lease detaches the key' });
    await p.run(['put', 'l/b', '--ignore-lease', '-w', 'json'], { stdin: 'kept\n', note: 'keeps the lease' });
    await p.run(['get', '--prefix', 'l/', '-w', 'json']);
    await p.run((side) => ['lease', 'revoke', p.lease(side, 0)]);
    await p.run(['get', '--prefix', 'l/', '-w', 'json'], { note: 'l/b deleted, one revision' });
    await p.run(['get', '--prefix', 'l/', '--rev=6', '-w', 'json']);
    await p.run((side) => ['lease', 'revoke', p.lease(side, 1), '-w', 'json'], { note: 'a lease with no keys: no revision bump' });
    await p.run(['get', 'l/c', '-w', 'json']);
    await p.run((side) => ['put', 'l/d', '4', `--lease=${p.lease(side, 0)}`], { code: 1, note: 'revoked lease' });
    await p.run((side) => ['lease', 'timetolive', p.lease(side, 0)], { note: 'revoked: already expired' });
    await p.run((side) => ['lease', 'keep-alive', '--once', p.lease(side, 0)], { code: 2, note: 'revoked: not found' });
    await p.run(['lease', 'revoke', '1234'], { code: 1, note: 'unknown lease' });
    await p.run(['lease', 'timetolive', '1234', '-w', 'json'], { note: 'unknown lease: TTL -1, not an error' });
    await p.run(['lease', 'list', '-w', 'json']);
    // Last, because it expires 2 s later (and would change `lease list`).
    await p.run(['lease', 'grant', '0'], { note: 'raised to the minimum TTL' });
  });
});
