/**
 * etcdctl 3.4 conformance for `txn` (scripts on stdin) and for invalid transactions, against a fresh etcd and a
 * fresh latchkey (see pair.ts).
 *
 * The non-interactive `etcdctl txn` stdin format: compares one per line, a blank line, success ops one per line,
 * a blank line, failure ops one per line, a blank line.
 */
import { describe, test } from 'vitest';
import { useMembers } from '../harness/vitest.js';
import { ConformancePair } from './pair.js';

const members = useMembers();

/** Builds a txn stdin script from its three sections. */
function txn(compares: readonly string[], success: readonly string[], failure: readonly string[]): string {
  return `${[compares, success, failure].map((lines) => lines.map((l) => `${l}\n`).join('')).join('\n')}\n`;
}

describe('etcdctl txn', () => {
  test('txn - value, create, mod and version compares take the right branch, in simple and json output', async () => {
    const p = await ConformancePair.start(members);
    await p.run(['put', 't/a', '1']); // rev 2
    await p.run(['put', 't/b', 'x']); // rev 3
    await p.run(['put', 't/b', 'y']); // rev 4: t/b version 2

    // value compares
    await p.run(['txn'], { stdin: txn(['value("t/a") = "1"'], ['put t/a 2', 'get t/a'], ['put t/fail 1']) });
    await p.run(['txn'], { stdin: txn(['value("t/a") = "1"'], ['put t/a 3'], ['get t/a', 'put t/fail 1']), note: 'failure branch' });
    await p.run(['txn', '-w', 'json'], { stdin: txn(['value("t/a") != "9"'], ['get t/a'], []) });
    await p.run(['txn', '-w', 'json'], { stdin: txn(['value("t/a") > "1"', 'value("t/a") < "3"'], ['get t/a', 'get t/b'], ['get t/b']) });
    await p.run(['txn'], { stdin: txn(['value("t/missing") != "x"'], ['put t/s 1'], ['put t/f 1']), note: 'VALUE on a missing key is false' });
    await p.run(['txn'], { stdin: txn(['value("t/missing") = ""'], ['put t/s 1'], ['put t/f 2']), note: 'VALUE on a missing key is false' });

    // create revision
    await p.run(['txn'], { stdin: txn(['create("t/new") = "0"'], ['put t/new created'], ['get t/new']), note: 'create if absent' });
    await p.run(['txn'], { stdin: txn(['create("t/new") = "0"'], ['put t/new again'], ['get t/new']), note: 'now present' });
    await p.run(['txn', '-w', 'json'], { stdin: txn(['create("t/a") < "3"', 'create("t/b") > "2"'], ['get t/a --prefix --limit=1'], []) });

    // mod revision
    await p.run(['txn', '-w', 'json'], { stdin: txn(['mod("t/a") > "0"'], ['del t/f'], ['put t/never 1']) });
    await p.run(['txn'], { stdin: txn(['mod("t/missing") = "0"'], ['get t/ --prefix --keys-only'], []), note: 'missing key: mod = 0' });
    await p.run(['txn'], { stdin: txn(['mod("t/b") = "4"'], ['put t/b z', 'get t/b'], ['get t/b']) });
    await p.run(['txn'], { stdin: txn(['mod("t/b") = "4"'], ['put t/b w'], ['get t/b']), note: 't/b changed: failure' });

    // version
    await p.run(['txn', '-w', 'json'], { stdin: txn(['version("t/b") = "3"'], ['put t/v ok', 'get t/v'], []) });
    await p.run(['txn', '-w', 'json'], { stdin: txn(['version("t/b") = "3"', 'version("t/missing") = "0"'], [], ['put t/v no']) });
    await p.run(['txn'], { stdin: txn(['version("t/v") != "1"'], [], ['get t/v', 'del t/v']), note: 'failure branch deletes' });

    await p.run(['txn'], { stdin: txn(['mod("t/a" "t/c") > "1"'], [], []), code: 3, note: 'etcdctl 3.4 has no range compares' });
    await p.run(['get', '--prefix', 't/', '-w', 'json']);
  });

  test('txn - revisions: one bump per changing txn, none for reads or no-ops, sub-response headers', async () => {
    const p = await ConformancePair.start(members);
    await p.run(['put', 'r/a', '1']); // rev 2
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['get r/a', 'get r/b'], []), note: 'read-only: no bump' });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['put r/b 1', 'put r/c 1', 'del r/a'], []), note: 'three changes, one revision' });
    await p.run(['get', '--prefix', 'r/', '-w', 'json']);
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['get r/ --prefix', 'del r/b', 'get r/ --prefix'], []), note: 'range before and after a write' });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['put r/d 1', 'get r/ --prefix', 'del r/c --prev-kv'], []) });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['del r/nosuch', 'get r/d'], []), note: 'delete of nothing: no bump' });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['del r/d --prev-kv', 'put r/d again'], []), code: 1, note: 'a put inside a deleted range is a duplicate key' });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['del r/d --prev-kv', 'put r/d2 new'], []), note: 'delete and put in one revision' });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], [], []), note: 'empty txn' });
    await p.run(['txn'], { stdin: txn(['value("r/d") = "again"'], [], []), note: 'compares only' });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['get r/d --rev=1', 'get r/ --prefix --rev=3'], []), note: 'historical reads in a txn' });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['put r/e 1 --prev-kv', 'put r/d 2 --prev-kv'], []) });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['get r/d --rev=99'], []), code: 1, note: 'future revision in a txn read' });
    await p.run(['get', '--prefix', 'r/', '-w', 'json']);
    // Revisions: 2 put r/a; 3 put r/b r/c, del r/a; 4 del r/b; 5 put r/d, del r/c; 6 del r/d, put r/d2; 7 put r/e r/d.
    for (let rev = 1; rev <= 7; rev++) await p.run(['get', '--prefix', 'r/', `--rev=${rev}`, '-w', 'json']);
    await p.run(['get', '--prefix', 'r/', '--rev=8'], { code: 1, note: 'future revision' });
  });

  test('txn - invalid: too many ops (129 from stdin), duplicate keys, empty keys, bad syntax', async () => {
    const p = await ConformancePair.start(members);
    const puts = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `put ${prefix}${String(i).padStart(3, '0')} v${i}`);
    const compares = (n: number): string[] => Array.from({ length: n }, (_, i) => `version("c/${i}") = "0"`);

    await p.run(['txn'], { stdin: txn([], puts(129, 'big/'), []), code: 1, note: '129 success ops' });
    await p.run(['txn'], { stdin: txn([], [], puts(129, 'big/')), code: 1, note: '129 failure ops' });
    await p.run(['txn'], { stdin: txn(compares(129), [], []), code: 1, note: '129 compares' });
    await p.run(['txn', '-w', 'json'], { stdin: txn(compares(128), puts(128, 'ok/'), puts(128, 'no/')), note: '128 of each: the limit is a max, not a sum' });
    await p.run(['get', '--prefix', 'ok/', '--keys-only', '--limit=3', '-w', 'json']);
    await p.run(['get', '--prefix', 'no/', '--keys-only', '-w', 'json']);

    await p.run(['txn'], { stdin: txn([], ['put d/k 1', 'put d/k 2'], []), code: 1, note: 'two puts to one key' });
    await p.run(['txn'], { stdin: txn([], [], ['put d/k 1', 'put d/k 2']), code: 1, note: 'two puts to one key in failure' });
    await p.run(['txn'], { stdin: txn([], ['del d/ --prefix', 'put d/x 1'], []), code: 1, note: 'put inside a deleted range' });
    await p.run(['txn'], { stdin: txn([], ['put d/x 1', 'del d/ --prefix'], []), code: 1, note: 'put inside a deleted range (other order)' });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['del d/k', 'del d/k'], []), note: 'two deletes of one key are allowed' });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['put d/k 1'], ['put d/k 2']), note: 'same key in different branches is fine' });
    await p.run(['txn', '-w', 'json'], { stdin: txn([], ['put d/k 3', 'get d/k'], []), note: 'put and get of one key is fine' });

    await p.run(['txn'], { stdin: txn(['value("") = "x"'], ['put e/1 1'], []), code: 1, note: 'compare on the empty key' });
    await p.run(['txn'], { stdin: txn([], ['get ""'], []), code: 1, note: 'get of the empty key' });
    await p.run(['txn'], { stdin: txn([], ['put "" v'], []), code: 1, note: 'put of the empty key' });
    await p.run(['txn'], { stdin: txn(['bogus("k") = "1"'], [], []), code: 3, note: 'rejected by etcdctl itself' });
    await p.run(['txn'], { stdin: 'value("k") = "1"\n', code: 3, note: 'stdin ends early' });
    await p.run(['get', '--from-key', '', '--keys-only', '--limit=5', '-w', 'json']);
  });
});
