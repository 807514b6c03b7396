/**
 * microsoft's `etcd3` npm client — a real client nobody here wrote — runs one scenario against a fresh etcd and a
 * fresh latchkey: KV, transactions, leases, watches, locks, elections and STM. Each run records a transcript of
 * what the client observed (ids masked); the transcripts must be identical.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import { useMembers } from '../harness/vitest.js';
import type { MemberKind } from '../harness/processes.js';

const members = useMembers({ scope: 'file' });

import { scenario, type Transcript } from './etcd3-scenario.js';

const transcripts = new Map<MemberKind, Transcript>();
const clients: Etcd3[] = [];
afterAll(() => {
  for (const c of clients) c.close();
});

describe('etcd3 npm client - same observations against etcd and latchkey', () => {
  for (const kind of ['etcd', 'latchkey'] as const) {
    it(`etcd3 - scenario runs against ${kind}`, async () => {
      const m = await members.start({ kind });
      const client = new Etcd3({ hosts: `http://${m.endpoint}` });
      clients.push(client);
      transcripts.set(kind, await scenario(client));
      if (process.env['SHOW_TRANSCRIPT']) console.log(transcripts.get(kind)!.join('\n'));
    }, 60_000);
  }

  it('etcd3 - transcripts are identical', () => {
    const etcd = transcripts.get('etcd');
    const latchkey = transcripts.get('latchkey');
    expect(etcd, 'the etcd run must have completed').toBeDefined();
    expect(latchkey).toEqual(etcd);
    expect(etcd!.length).toBeGreaterThan(20);
  });
});
