/**
 * The crash checker must be able to fail: each test breaks one rule of check.ts on an otherwise consistent store.
 */
import { KeyValue, RangeResponse } from '@latchkey/proto';
import { describe, expect, test } from 'vitest';
import { utf8 } from '../harness/kv-client.js';
import { checkStore } from './check.js';
import { keyFor, valueFor } from './values.js';
import type { Ack } from './writer-process.js';

/** A consistent store: seqs 0..n-1 written at revisions 2..n+1, all acknowledged. */
function consistent(n: number): { acks: Ack[]; kvs: KeyValue[] } {
  const acks: Ack[] = [];
  const kvs: KeyValue[] = [];
  for (let seq = 0; seq < n; seq++) {
    const key = keyFor(seq);
    const rev = BigInt(seq + 2);
    acks.push({ seq, key, value: valueFor(key), rev });
    kvs.push(KeyValue.create({ key: utf8(key), value: utf8(valueFor(key)), createRevision: rev, modRevision: rev, version: 1n }));
  }
  return { acks, kvs };
}

function response(kvs: KeyValue[], revision: bigint, count = BigInt(kvs.length)): RangeResponse {
  return RangeResponse.create({ header: { revision }, kvs, count });
}

describe('crash checker', () => {
  test('crash checker - accepts a consistent store, with unacknowledged writes present', () => {
    const { acks, kvs } = consistent(5);
    const check = checkStore(acks.slice(0, 3), response(kvs, 6n));
    expect(check.problems).toEqual([]);
    expect(check.revision).toBe(6n);
    expect([...check.presentSeqs].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  test('crash checker - flags a lost acknowledged write (and the gap it leaves)', () => {
    const { acks, kvs } = consistent(5);
    kvs.splice(2, 1);
    const check = checkStore(acks, response(kvs, 6n));
    expect(check.problems).toContain('acked crash/00000002 (rev 4) is missing');
    expect(check.problems.some((p) => p.startsWith('4 keys at revision 6'))).toBe(true);
  });

  test('crash checker - flags a wrong value and a wrong mod revision', () => {
    const { acks, kvs } = consistent(3);
    kvs[0]!.value = utf8('garbage');
    acks[1]!.rev = 9n;
    const problems = checkStore(acks, response(kvs, 4n)).problems;
    expect(problems.some((p) => p.includes('crash/00000000 holds "garbage"'))).toBe(true);
    expect(problems).toContain('acked crash/00000001: mod_revision 3, acked at 9');
  });

  test('crash checker - flags a revision reused after a restart (lost then rewritten)', () => {
    const { acks, kvs } = consistent(4);
    // The write acked at revision 5 was lost; after the restart another key got revision 5.
    kvs[3] = KeyValue.create({ key: utf8(keyFor(7)), value: utf8(valueFor(keyFor(7))), createRevision: 5n, modRevision: 5n, version: 1n });
    const problems = checkStore(acks, response(kvs, 5n)).problems;
    expect(problems).toContain('acked crash/00000003 (rev 5) is missing');
  });

  test('crash checker - flags duplicated or missing revisions among unacknowledged writes', () => {
    const { kvs } = consistent(4);
    kvs[3]!.modRevision = 4n;
    kvs[3]!.createRevision = 4n;
    const problems = checkStore([], response(kvs, 5n)).problems;
    expect(problems.some((p) => p.startsWith('mod revisions are not exactly 2..5'))).toBe(true);
  });

  test('crash checker - flags keys the writer never writes and a wrong count', () => {
    const { acks, kvs } = consistent(2);
    kvs.push(KeyValue.create({ key: utf8('crash/x'), value: utf8('?'), createRevision: 4n, modRevision: 4n, version: 1n }));
    const problems = checkStore(acks, response(kvs, 4n, 7n)).problems;
    expect(problems).toContain('unexpected key "crash/x"');
    expect(problems).toContain('count 7 but 3 kvs returned');
  });
});
