/**
 * The masking and stderr helpers hide only what legitimately differs between two servers: each test checks
 * both that a piece is masked and that its neighbours (revisions, values, other ids) are not.
 */
import { describe, expect, test } from 'vitest';
import {
  cleanStderr,
  maskDurations,
  maskEndpointStatusLine,
  maskLeaseIds,
  maskMemberIds,
  maskServerOutput,
  type ServerIdentity,
  sortUnorderedLists,
} from './etcdctl.js';

const zap =
  '{"level":"warn","ts":"2026-11-24T23:28:42.141Z","caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed","target":"endpoint://client-ca19/127.0.0.1:23791","attempt":0,"error":"rpc error: code = InvalidArgument desc = etcdserver: key is not provided"}';

const id: ServerIdentity = {
  endpoint: '127.0.0.1:23791',
  memberId: 13668033151171901709n, // bdae9bbc11dd390d
  clusterId: 15118495548433857066n,
  literals: [['http://127.0.0.1:23801', '<peer-url>']],
};

describe('harness etcdctl', () => {
  test('etcdctl stderr - zap warning lines are dropped, other lines kept', () => {
    expect(cleanStderr(`${zap}\nError: etcdserver: key is not provided\n`)).toBe('Error: etcdserver: key is not provided\n');
    expect(cleanStderr('{"not":"zap"}\nplain\n')).toBe('{"not":"zap"}\nplain\n');
  });

  test('etcdctl stderr - keepErrors reduces a zap line to its message and gRPC error', () => {
    expect(cleanStderr(`${zap}\nError: x\n`, { keepErrors: true })).toBe(
      '<zap warn> retrying of unary invoker failed: rpc error: code = InvalidArgument desc = etcdserver: key is not provided\nError: x\n',
    );
  });

  test('etcdctl masking - member and cluster ids in decimal, hex and padded hex; other numbers kept', () => {
    const json = '{"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,"revision":13668,"raft_term":2}}';
    expect(maskMemberIds(json, id)).toBe('{"header":{"cluster_id":<cluster-id>,"member_id":<member-id>,"revision":13668,"raft_term":2}}');
    expect(maskMemberIds('bdae9bbc11dd390d, started, m1', id)).toBe('<member-id>, started, m1');
    expect(maskMemberIds('xbdae9bbc11dd390d 1366803315117190170', id)).toBe('xbdae9bbc11dd390d 1366803315117190170');
    const small = { memberId: 0x2943212f5e2cf73n, clusterId: 1n };
    expect(maskMemberIds('02943212f5e2cf73 2943212f5e2cf73', small)).toBe('<member-id> <member-id>');
  });

  test('etcdctl masking - lease ids by value, or any "lease <16 hex>"', () => {
    expect(maskLeaseIds('lease 694d7a1f5c3b2e01 granted with TTL(60s)')).toBe('lease <lease-id> granted with TTL(60s)');
    const lease = 0x694d7a1f5c3b2e01n;
    expect(maskLeaseIds(`{"ID":${lease},"TTL":60} 694d7a1f5c3b2e01 ${lease + 1n}`, [lease])).toBe(`{"ID":<lease-id>,"TTL":60} <lease-id> ${lease + 1n}`);
  });

  test('etcdctl masking - endpoint status line keeps leader, learner and errors columns', () => {
    expect(maskEndpointStatusLine('127.0.0.1:23791, bdae9bbc11dd390d, 3.4.23, 20 kB, true, false, 2, 4, 4, ')).toBe(
      '127.0.0.1:23791, <member-id>, <version>, <db-size>, true, false, <term>, <index>, <index>, ',
    );
    expect(maskEndpointStatusLine('a, b')).toBe('a, b');
  });

  test('etcdctl masking - durations', () => {
    expect(maskDurations('127.0.0.1:1 is healthy: successfully committed proposal: took = 1.190821ms')).toBe(
      '127.0.0.1:1 is healthy: successfully committed proposal: took = <duration>',
    );
    expect(maskDurations('[{"endpoint":"e","health":true,"took":"8.8ms"}]')).toBe('[{"endpoint":"e","health":true,"took":<duration>}]');
  });

  test('etcdctl masking - full status json keeps revision, key versions and values', () => {
    const status =
      '[{"Endpoint":"127.0.0.1:23791","Status":{"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,"revision":7,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":13668033151171901709,"raftIndex":4,"raftTerm":2,"raftAppliedIndex":4,"dbSizeInUse":16384}}]';
    expect(maskServerOutput(status, id)).toBe(
      '[{"Endpoint":"<endpoint>","Status":{"header":{"cluster_id":<cluster-id>,"member_id":<member-id>,"revision":7,"raft_term":<term>},"version":<version>,"dbSize":<db-size>,"leader":<member-id>,"raftIndex":<index>,"raftTerm":<term>,"raftAppliedIndex":<index>,"dbSizeInUse":<db-size>}}]',
    );
    const kv = '{"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":3,"version":2,"value":"YmFy"}],"count":1}';
    expect(maskServerOutput(kv, id)).toBe(kv);
    expect(maskServerOutput('bdae9bbc11dd390d, started, m1, http://127.0.0.1:23801, http://127.0.0.1:23791, false', id)).toBe(
      '<member-id>, started, m1, <peer-url>, http://<endpoint>, false',
    );
  });

  test('etcdctl normalizing - lease keys are sorted, nothing else moves', () => {
    expect(sortUnorderedLists('lease 1 granted with TTL(100s), remaining(99s), attached keys([l/b l/a])')).toBe(
      'lease 1 granted with TTL(100s), remaining(99s), attached keys([l/a l/b])',
    );
    expect(sortUnorderedLists('{"id":1,"keys":["bC9i","bC9h"]} {"kvs":[{"key":"b"},{"key":"a"}]}')).toBe('{"id":1,"keys":["bC9h","bC9i"]} {"kvs":[{"key":"b"},{"key":"a"}]}');
  });
});
