/**
 * `/metrics` (Prometheus text format) and `/health` on the client port: scraped and parsed, with etcd's metric
 * names, and counters that move by what the test did.
 */
import { Client } from '@latchkey/client';
import { describe, expect, it } from 'vitest';
import { useMembers } from '../harness/vitest.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (the subset prom-client writes: no timestamps, no escapes in labels other than \" and \\). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

const members = useMembers();

describe('metrics and health', () => {
  it('parser rejects garbage (negative control)', () => {
    expect(() => parsePrometheus('etcd_server_has_leader one two')).toThrow(/unparsable/);
    expect(parsePrometheus('a{b="c\\"d"} 2\n# HELP x y')).toEqual([{ name: 'a', labels: { b: 'c"d' }, value: 2 }]);
  });

  it('etcd-named metrics exist and counters follow the requests made', async () => {
    const m = await members.start({ kind: 'latchkey' });
    const base = `http://${m.endpoint}`;
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ health: 'true' });
    const scrape = async (): Promise<Sample[]> => parsePrometheus(await (await fetch(`${base}/metrics`)).text());
    const one = (s: Sample[], name: string, labels: Record<string, string> = {}): number =>
      s.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);

    const before = await scrape();
    const c = new Client({ endpoints: [m.endpoint] });
    for (let i = 0; i < 25; i++) await c.put(`metrics/${i}`, 'v');
    await expect(c.put('', 'v')).rejects.toThrow('etcdserver: key is not provided');
    c.close();
    const after = await scrape();

    expect(one(after, 'etcd_server_has_leader')).toBe(1);
    expect(one(after, 'etcd_server_is_leader')).toBe(1);
    expect(one(after, 'etcd_server_leader_changes_seen_total')).toBeGreaterThanOrEqual(1);
    expect(one(after, 'etcd_mvcc_db_total_size_in_bytes')).toBeGreaterThan(0);
    const put = { grpc_method: 'Put', grpc_code: 'OK' };
    expect(one(after, 'grpc_server_handled_total', put) - one(before, 'grpc_server_handled_total', put)).toBeGreaterThanOrEqual(25);
    expect(one(after, 'grpc_server_handled_total', { grpc_method: 'Put', grpc_code: 'InvalidArgument' })).toBeGreaterThanOrEqual(1);
    expect(one(after, 'etcd_server_proposals_committed_total') - one(before, 'etcd_server_proposals_committed_total')).toBeGreaterThanOrEqual(25);
    expect(one(after, 'etcd_server_proposals_applied_total') - one(before, 'etcd_server_proposals_applied_total')).toBeGreaterThanOrEqual(25);
    expect(after.some((s) => s.name === 'etcd_server_proposals_pending')).toBe(true);
    expect(after.some((s) => s.name === 'etcd_server_proposals_failed_total')).toBe(true);
    for (const h of ['etcd_disk_wal_fsync_duration_seconds', 'etcd_disk_backend_commit_duration_seconds']) {
      expect(one(after, `${h}_count`) - one(before, `${h}_count`), h).toBeGreaterThan(0);
      const buckets = after.filter((s) => s.name === `${h}_bucket`).map((s) => s.value);
      expect(buckets.length, h).toBeGreaterThan(3);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]!).toBeGreaterThanOrEqual(buckets[i - 1]!); // cumulative
    }
    expect(after.some((s) => s.name.startsWith('latchkey_lock_handoff_seconds'))).toBe(true);
  }, 60_000);
});
