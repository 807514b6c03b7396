/**
 * Transcripts of the key-value commands: the same scripts through etcdctl and latchctl (see transcript.ts), each
 * tool on its own latchkey member (fresh for this file), compared after masking IDs.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { useMembers } from '../harness/vitest.js';
import { Transcript } from './transcript.js';

// One pair for the file: every step runs on both sides, so the two members stay in the same state from test to
// test (the tests use their own keys; the first one reads the whole keyspace).
const members = useMembers({ scope: 'file' });
let t: Transcript;
beforeAll(async () => {
  t = await Transcript.start(members);
});

/** A txn script for stdin: compares, blank line, success ops, blank line, failure ops, blank line. */
export function txnScript(compares: readonly string[], success: readonly string[], failure: readonly string[]): string {
  return `${[compares, success, failure].map((ls) => ls.map((l) => `${l}\n`).join('')).join('\n')}\n`;
}

describe('latchctl transcripts: kv', () => {
  test('transcript kv - put, get with every etcdctl 3.4 flag, del, compaction; simple, json, fields and hex output', async () => {
    for (const [k, v] of [['foo', 'bar'], ['foo1', 'bar1'], ['foo2', 'bar2'], ['foo3', 'bar3'], ['zoo', 'a<b&c "q"']]) await t.run(['put', k!, v!]);
    await t.run(['get', 'foo']);
    await t.run(['get', 'foo', '--print-value-only']);
    await t.run(['get', 'foo', 'foo3']);
    await t.run(['get', '--prefix', '--limit=2', 'foo']);
    await t.run(['get', '--prefix', 'foo', '-w', 'json']);
    await t.run(['get', '--prefix', 'foo', '--limit', '2', '-w', 'fields']);
    await t.run(['get', 'zoo', '-w', 'json']);
    await t.run(['get', 'zoo', '-w', 'fields']);
    await t.run(['get', 'zoo', '--hex']);
    await t.run(['get', '--prefix', 'foo', '--keys-only']);
    await t.run(['get', '--prefix', 'foo', '--sort-by=MODIFY', '--order=DESCEND']);
    await t.run(['get', '--prefix', 'foo', '--sort-by=value', '--order=ascend', '-w', 'json']);
    await t.run(['get', '--from-key', 'foo2']);
    await t.run(['get', '--from-key', '', '--keys-only']);
    await t.run(['get', '--prefix', '', '--limit=1', '-w', 'json']);
    await t.run(['get', 'foo', '--consistency=s']);
    await t.run(['get', 'foo', '--rev=2', '-w', 'json']);
    await t.run(['get', '--prefix', '--rev=3', 'foo']);
    await t.run(['get', 'nosuch', '-w', 'json']);
    await t.run(['put', 'foo', 'bar_new', '--prev-kv']);
    await t.run(['put', 'foo', 'bar_new2', '--prev-kv', '-w', 'json']);
    await t.run(['put', 'foo', '--ignore-value', '--prev-kv', '-w', 'fields']);
    await t.run(['put', 'k', '--'], { stdin: 'value from stdin\n', note: 'value read from stdin' });
    await t.run(['put', '--', 'dash', '-value']);
    await t.run(['get', 'k', 'kz', '-w', 'json']);
    await t.run(['del', 'foo3']);
    await t.run(['del', 'foo', '--prefix', '--prev-kv', '-w', 'json']);
    await t.run(['del', 'foo', '--prev-kv']);
    await t.run(['del', '--from-key', 'zz']);
    await t.run(['del', 'k', 'l', '-w', 'fields']);
    await t.run(['get', '--prefix', '', '-w', 'fields']);
    await t.run(['compaction', '5']);
    await t.run(['get', 'foo', '--rev=2'], { code: 1, note: 'compacted revision' });
    await t.run(['compaction', '5'], { code: 1 });
    await t.run(['compaction', '--physical', '7', '-w', 'json']);
    await t.run(['get', 'foo', '--rev=999'], { code: 1, note: 'future revision' });
  });

  test('transcript kv - argument and flag-value errors: etcdctl messages and exit codes', async () => {
    await t.run(['get'], { code: 128 });
    await t.run(['get', '--prefix', '--from-key', 'a'], { code: 128 });
    await t.run(['get', 'a', 'b', '--prefix'], { code: 128 });
    await t.run(['get', 'a', '--consistency=x'], { code: 4 });
    await t.run(['get', 'a', '--order=sideways'], { code: 4 });
    await t.run(['get', 'a', '--sort-by=size'], { code: 4 });
    await t.run(['get', 'a', '-w', 'json', '--print-value-only'], { code: 128 });
    await t.run(['get', 'a', '-w', 'table'], { code: 4 });
    await t.run(['-w', 'yaml', 'get', 'a'], { code: 4 });
    await t.run(['put'], { code: 128 });
    await t.run(['put', 'k'], { code: 128, note: 'no value and empty stdin' });
    await t.run(['put', 'k', 'v', '--ignore-value'], { code: 128 });
    await t.run(['put', 'k', 'v', '--lease=zz'], { code: 128 });
    await t.run(['put', 'k', 'v', '--lease=1234'], { code: 1, note: 'unknown lease' });
    await t.run(['put', 'nosuch', '--ignore-value'], { code: 1 });
    await t.run(['put', '', 'v'], { code: 1, note: 'empty key' });
    await t.run(['del'], { code: 128 });
    await t.run(['del', 'a', 'b', 'c'], { code: 128 });
    await t.run(['compaction'], { code: 128 });
    await t.run(['compaction', 'abc'], { code: 1 });
    await t.run(['compaction', '9999'], { code: 1, note: 'future revision' });
  });

  test('transcript txn - stdin scripts and txn -i prompts; simple, json and fields; malformed compares and requests', async () => {
    await t.run(['put', 't/a', '1']);
    await t.run(['put', 't/b', 'x']);
    await t.run(['txn'], { stdin: txnScript(['value("t/a") = "1"'], ['put t/a 2', 'get t/a'], ['put t/fail 1']) });
    await t.run(['txn', '-w', 'json'], { stdin: txnScript(['value("t/a") = "1"'], ['put t/a 3'], ['get t/a', 'del t/b --prev-kv']) });
    await t.run(['txn', '-w', 'fields'], { stdin: txnScript(['mod("t/a") > "0"', 'version("t/a") != "9"', 'create("t/new") = "0"'], ['put t/new "two words"', 'get t/ --prefix --keys-only'], []) });
    await t.run(['txn', '-i'], { stdin: txnScript(['c("t/new") > "0"', 'ver("t/new") = "1"', 'm("t/new") < "100"', 'val("t/new") = "two words"'], ['del t/new'], ['get t/new']) });
    await t.run(['txn', '-i', '-w', 'json'], { stdin: txnScript([], [], []), note: 'empty txn' });
    await t.run(['txn'], { stdin: txnScript(['value("t/a") = "1'], [], []), code: 3, note: 'unterminated quote' });
    await t.run(['txn'], { stdin: txnScript(['size("t/a") = "1"'], [], []), code: 3, note: 'unknown target' });
    await t.run(['txn'], { stdin: txnScript(['nobrackets'], [], []), code: 3 });
    await t.run(['txn'], { stdin: txnScript(['version("t/a") = "one"'], [], []), code: 3 });
    await t.run(['txn'], { stdin: txnScript([], ['get'], []), code: 3, note: 'request too short' });
    await t.run(['txn'], { stdin: txnScript([], ['frobnicate t/a'], []), code: 3, note: 'unknown request' });
    await t.run(['txn'], { stdin: txnScript([], ['get t/a --consistency=q'], []), code: 4, note: 'a get line with a bad flag value' });
    await t.run(['txn'], { stdin: 'value("t/a") = "3"\n\nget t/a\n', code: 3, note: 'EOF before the failure section' });
    await t.run(['txn'], { stdin: txnScript([], ['put t/d 1', 'put t/d 2'], []), code: 1, note: 'duplicate key' });
    await t.run(['txn', 'extra'], { code: 128 });
  });

  test('transcript txn -i - the prompts are answered one section at a time, as typed', async () => {
    await t.run(['put', 'key', 'ccvvb']);
    const prompt = (p: string) => (out: string) => out.includes(`${p}\n`);
    const r = await t.dialog(['txn', '-i'], [
      { until: prompt('compares:'), what: 'the compares prompt', send: 'value("key") = "ccvvb"\n\n' },
      { until: prompt('success requests (get, put, del):'), what: 'the success prompt', send: 'get key\n\n' },
      { until: prompt('failure requests (get, put, del):'), what: 'the failure prompt', send: 'del key\n\n' },
    ]);
    expect(r.latchctl.stdout).toBe('compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nSUCCESS\n\nkey\nccvvb\n');
  });
});
