/**
 * The HTTP/JSON gateway, compared with etcd's: the same POSTs (as `curl` sends them) against a fresh etcd and a
 * fresh latchkey must give the same HTTP status and the same JSON (cluster/member ids, raft term and lease ids
 * masked). Covers KV, txn, compaction, leases, the watch stream with history, error bodies and /v3beta.
 */
import { describe, expect, it } from 'vitest';
import { useMembers } from '../harness/vitest.js';
import type { Member } from '../harness/processes.js';

const members = useMembers({ scope: 'file' });
const b64 = (s: string) => Buffer.from(s).toString('base64');

interface Answer {
  status: number;
  body: unknown;
}

/** Masks values that legitimately differ between two servers. */
function mask(v: unknown, leaseIds: Map<string, string>): unknown {
  if (Array.isArray(v)) return v.map((x) => mask(x, leaseIds));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === 'cluster_id' || k === 'member_id' || k === 'raft_term') out[k] = '<masked>';
      else if ((k === 'ID' || k === 'lease') && typeof x === 'string') {
        if (!leaseIds.has(x)) leaseIds.set(x, `<lease${leaseIds.size}>`);
        out[k] = leaseIds.get(x);
      } else out[k] = mask(x, leaseIds);
    }
    return out;
  }
  return v;
}

async function post(m: Member, path: string, body: string, leaseIds: Map<string, string>): Promise<Answer> {
  const res = await fetch(`http://${m.endpoint}${path}`, { method: 'POST', body, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text.trim();
  }
  return { status: res.status, body: mask(parsed, leaseIds) };
}

/**
 * Reads a chunked watch stream until `n` events have arrived; returns the creation line and the events in
 * order. How events are split across messages is timing (etcd catches up unsynced watchers every 100 ms, so a
 * replayed and a live event may share a message), so only their order and content are compared.
 */
async function watchLines(m: Member, body: string, n: number, during: () => Promise<void>, leaseIds: Map<string, string>): Promise<unknown[]> {
  const ac = new AbortController();
  const res = await fetch(`http://${m.endpoint}/v3/watch`, { method: 'POST', body, signal: ac.signal });
  const reader = res.body!.getReader();
  const lines: unknown[] = [];
  const events: unknown[] = [];
  let buf = '';
  let triggered = false;
  const deadline = Date.now() + 5000;
  while (events.length < n && Date.now() < deadline) {
    const next = await Promise.race([reader.read(), new Promise<undefined>((r) => setTimeout(() => r(undefined), deadline - Date.now()))]);
    if (!next || next.done) break;
    const value = next.value;
    buf += Buffer.from(value).toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      const msg = mask(JSON.parse(line), leaseIds) as { result?: { created?: boolean; events?: unknown[] } };
      if (msg.result?.created) lines.push(msg);
      else events.push(...(msg.result?.events ?? [msg]));
    }
    if (!triggered && lines.length > 0) {
      triggered = true;
      await during();
    }
  }
  ac.abort();
  return [...lines, ...events];
}

async function script(m: Member): Promise<unknown[]> {
  const ids = new Map<string, string>();
  const out: unknown[] = [];
  const p = async (path: string, body: object | string) => out.push([path, await post(m, path, typeof body === 'string' ? body : JSON.stringify(body), ids)]);
  await p('/v3/kv/put', { key: b64('foo'), value: b64('bar') });
  await p('/v3/kv/put', { key: b64('foo'), value: b64('bar2'), prev_kv: true });
  await p('/v3/kv/put', { key: b64('foo1'), value: b64('x') });
  await p('/v3/kv/range', { key: b64('foo') });
  await p('/v3/kv/range', { key: b64('foo'), range_end: b64('fop'), sort_order: 'DESCEND', keys_only: true });
  await p('/v3/kv/range', { key: b64('foo'), rangeEnd: b64('fop'), limit: 1, countOnly: false });
  await p('/v3/kv/range', { key: b64('foo'), revision: '2' });
  await p('/v3beta/kv/range', { key: b64('foo') });
  await p('/v3/kv/txn', {
    compare: [{ key: b64('foo'), target: 'VALUE', result: 'EQUAL', value: b64('bar2') }],
    success: [{ request_put: { key: b64('t'), value: b64('yes') } }, { request_range: { key: b64('t') } }],
    failure: [{ request_range: { key: b64('foo') } }],
  });
  await p('/v3/kv/txn', { compare: [{ key: b64('nope'), target: 'CREATE', result: 'GREATER', create_revision: '0' }], failure: [{ request_delete_range: { key: b64('t'), prev_kv: true } }] });
  await p('/v3/kv/deleterange', { key: b64('foo1'), prev_kv: true });
  await p('/v3/kv/compaction', { revision: '3' });
  await p('/v3/kv/range', { key: b64('foo'), revision: '2' });
  await p('/v3/kv/range', { key: b64('foo'), revision: '99' });
  // Leases.
  const grant = await post(m, '/v3/lease/grant', JSON.stringify({ TTL: 60, ID: '7777' }), ids);
  out.push(['/v3/lease/grant', grant]);
  await p('/v3/kv/put', { key: b64('leased'), value: b64('v'), lease: '7777' });
  await p('/v3/lease/timetolive', { ID: '7777', keys: true });
  await p('/v3/kv/lease/timetolive', { ID: '404' });
  await p('/v3/lease/grant', { TTL: 60, ID: '7777' });
  await p('/v3/lease/revoke', { ID: '7777' });
  await p('/v3/kv/lease/revoke', { ID: '7777' });
  await p('/v3/kv/range', { key: b64('leased') });
  // Bad input.
  await p('/v3/kv/put', { key: '', value: b64('x') });
  await p('/v3/kv/put', { key: 'Zm9', value: b64('x') });
  await p('/v3/kv/put', '{"key":');
  await p('/v3/kv/put', { key: b64('k'), lease: '123' });
  await p('/v3/kv/range', { key: b64('foo'), limit: 'abc' });
  await p('/v3/kv/nosuch', {});
  await p('/v3/kv/range', { key: b64('foo'), limit: '1.5' });
  await p('/v3/kv/range', { key: b64('foo'), limit: '' });
  await p('/v3/kv/range', { key: b64('foo'), keys_only: 'true' });
  await p('/v3/kv/range', { key: 5 });
  await p('/v3/kv/range', '[1]');
  await p('/v3/kv/range', { key: b64('foo'), sort_order: 'BAD' });
  // The watch stream: history from revision 2, then a live event.
  out.push([
    '/v3/watch',
    await watchLines(m, JSON.stringify({ create_request: { key: b64('foo'), start_revision: '3', prev_kv: true } }), 2, async () => {
      await post(m, '/v3/kv/put', JSON.stringify({ key: b64('foo'), value: b64('live') }), ids);
    }, ids),
  ]);
  // A start revision two ahead of the store: the put at the next revision is not reported, the one after it is.
  const now = ((await post(m, '/v3/kv/range', JSON.stringify({ key: b64('foo') }), ids)).body as { header: { revision: string } }).header.revision;
  out.push([
    '/v3/watch (future start revision)',
    await watchLines(m, JSON.stringify({ create_request: { key: b64('fut'), start_revision: String(BigInt(now) + 2n) } }), 1, async () => {
      await post(m, '/v3/kv/put', JSON.stringify({ key: b64('fut'), value: b64('below-start') }), ids);
      await post(m, '/v3/kv/put', JSON.stringify({ key: b64('fut'), value: b64('at-start') }), ids);
    }, ids),
  ]);
  return out;
}

describe('gateway - same JSON as etcd', () => {
  const results = new Map<string, unknown[]>();
  for (const kind of ['etcd', 'latchkey'] as const) {
    it(`gateway - script runs against ${kind}`, async () => {
      results.set(kind, await script(await members.start({ kind })));
    }, 60_000);
  }

  it('gateway - answers are identical', () => {
    const etcd = results.get('etcd')!;
    const latchkey = results.get('latchkey')!;
    expect(etcd).toBeDefined();
    for (let i = 0; i < etcd.length; i++) expect(latchkey[i], `step ${i}: ${JSON.stringify((etcd[i] as unknown[])[0])}`).toEqual(etcd[i]);
    expect(latchkey.length).toBe(etcd.length);
  });
});
