/**
 * The crash test's store checker, as a pure function of (what the writer had acknowledged, one Range response
 * over every writer key), so that it can be tested on its own (check.test.ts breaks each rule on purpose).
 *
 * Rules, for a store that only the writer writes to, one new key per Put:
 * - every acknowledged Put is present with its value, and with mod_revision = create_revision = the acked
 *   revision and version 1 (each key is written once);
 * - every key present holds the one value the writer ever puts there (`valueFor(key)`);
 * - the keys' mod revisions are exactly 2..header.revision, one key per revision: a lost, duplicated, reordered
 *   or half-applied write breaks this, acknowledged or not;
 * - `count` equals the number of kvs returned.
 */
import type { RangeResponse } from '@latchkey/proto';
import { text } from '../harness/kv-client.js';
import { seqOf, valueFor } from './values.js';
import type { Ack } from './writer-process.js';

export interface StoreCheck {
  /** header.revision of the Range. */
  revision: bigint;
  /** Writer seqs whose keys are present. */
  presentSeqs: Set<number>;
  /** One line per violated rule instance; empty when the store is consistent with the acks. */
  problems: string[];
}

export function checkStore(acked: readonly Ack[], res: RangeResponse): StoreCheck {
  const revision = res.header?.revision ?? 0n;
  const byKey = new Map(res.kvs.map((kv) => [text(kv.key), kv]));
  const problems: string[] = [];

  for (const a of acked) {
    const kv = byKey.get(a.key);
    if (kv === undefined) {
      problems.push(`acked ${a.key} (rev ${a.rev}) is missing`);
      continue;
    }
    if (text(kv.value) !== a.value) problems.push(`acked ${a.key} holds ${JSON.stringify(text(kv.value))}, acked ${JSON.stringify(a.value)}`);
    if (kv.modRevision !== a.rev) problems.push(`acked ${a.key}: mod_revision ${kv.modRevision}, acked at ${a.rev}`);
    if (kv.createRevision !== a.rev || kv.version !== 1n) {
      problems.push(`acked ${a.key}: create_revision ${kv.createRevision}, version ${kv.version}; written once, at ${a.rev}`);
    }
  }

  const presentSeqs = new Set<number>();
  const modRevisions: bigint[] = [];
  for (const [key, kv] of byKey) {
    const seq = seqOf(key);
    if (seq === undefined) problems.push(`unexpected key ${JSON.stringify(key)}`);
    else presentSeqs.add(seq);
    if (text(kv.value) !== valueFor(key)) problems.push(`${key} holds ${JSON.stringify(text(kv.value))}, which the writer never put there`);
    modRevisions.push(kv.modRevision);
  }

  if (res.count !== BigInt(byKey.size)) problems.push(`count ${res.count} but ${byKey.size} kvs returned`);
  const expectedKeys = revision - 1n;
  if (BigInt(byKey.size) !== expectedKeys) problems.push(`${byKey.size} keys at revision ${revision}, expected ${expectedKeys} (one per revision 2..${revision})`);
  modRevisions.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const misplaced = modRevisions.map((r, i) => [r, BigInt(i + 2)] as const).filter(([r, want]) => r !== want);
  if (misplaced.length > 0) {
    const shown = misplaced.slice(0, 5).map(([r, want]) => `${r} where ${want} was expected`);
    problems.push(`mod revisions are not exactly 2..${revision}: ${shown.join(', ')}${misplaced.length > 5 ? ', …' : ''}`);
  }
  return { revision, presentSeqs, problems };
}
