/**
 * Transcripts of the cluster and maintenance commands and of command-line handling (see transcript.ts), plus
 * read-only commands through both tools against the very same member, where the outputs must be identical
 * byte for byte (no masking at all: same IDs, same revisions) — protobuf output included.
 */
import { describe, expect, test } from 'vitest';
import { cleanStderr } from '../harness/etcdctl.js';
import { useMembers } from '../harness/vitest.js';
import { runInProcess, runTool } from './tools.js';
import { Transcript } from './transcript.js';

/** The cluster and command-line transcripts share one latchkey pair; the others start their own members. */
const shared = useMembers({ scope: 'file' });
const members = useMembers();
let clusterPair: Promise<Transcript> | undefined;
const pair = (): Promise<Transcript> => (clusterPair ??= Transcript.start(shared));

describe('latchctl transcripts: cluster and maintenance', () => {
  test('transcript cluster - member list, endpoint status/health/hashkv (also --cluster), alarm, and member/move-leader errors', async () => {
    const t = await pair();
    const self = (tool: 'etcdctl' | 'latchctl'): string => t.ids[tool].memberId.toString(16);
    await t.run(['put', 'a', '1']);
    for (const w of ['simple', 'json', 'fields', 'table']) await t.run(['member', 'list', '-w', w]);
    for (const w of ['simple', 'json', 'fields']) await t.run(['endpoint', 'health', '-w', w]);
    for (const w of ['simple', 'json', 'fields', 'table']) await t.run(['endpoint', 'status', '-w', w]);
    for (const w of ['simple', 'json', 'fields', 'table']) await t.run(['endpoint', 'hashkv', '-w', w]);
    await t.run(['endpoint', 'hashkv', '--rev=2']);
    await t.run(['endpoint', 'status', '--cluster']);
    await t.run(['endpoint', 'health', '--cluster', '-w', 'json']);
    await t.run(['endpoint', 'status', '-w', 'protobuf'], { code: 4 });
    await t.run(['alarm', 'list']);
    await t.run(['alarm', 'list', '-w', 'json']);
    await t.run(['alarm', 'disarm']);
    await t.run(['alarm', 'list', 'extra'], { code: 128 });
    await t.run(['member', 'add'], { code: 128 });
    await t.run(['member', 'add', 'm2'], { code: 128 });
    await t.run(['member', 'add', 'm2', 'http://127.0.0.1:1'], { code: 128 });
    await t.run(['member', 'remove'], { code: 128 });
    await t.run(['member', 'remove', 'zz'], { code: 128 });
    await t.run(['member', 'remove', '1234'], { code: 1, note: 'unknown member' });
    await t.run(['member', 'update', '1234'], { code: 128 });
    await t.run(['member', 'update', '1234', '--peer-urls=http://127.0.0.1:1'], { code: 1 });
    await t.run((tool) => ['member', 'promote', self(tool)], { code: 1, note: 'not a learner' });
    // A learner joins (it does not count for the quorum, so the single member keeps working), is updated, cannot
    // be promoted while it has not caught up, and is removed. Members are listed in ID order, and the two sides'
    // IDs differ: the member lines and the ETCD_INITIAL_CLUSTER entries are compared sorted.
    const sortCluster = (text: string): string =>
      text.replace(/ETCD_INITIAL_CLUSTER="([^"]*)"/, (_, list: string) => `ETCD_INITIAL_CLUSTER="${list.split(',').sort().join(',')}"`);
    const added = await t.run(['member', 'add', 'learner1', '--learner', '--peer-urls=http://127.0.0.1:1'], {
      normalise: (_tool, text) => sortCluster(text.replace(/Member +[0-9a-f]+ added/, 'Member <new-member> added')),
    });
    expect(added.latchctl.stdout).toContain('ETCD_INITIAL_CLUSTER="learner1=http://127.0.0.1:1,m1=<peer-url>"');
    const learner: Record<'etcdctl' | 'latchctl', string> = { etcdctl: '', latchctl: '' };
    for (const tool of ['etcdctl', 'latchctl'] as const) {
      const r = await runTool(tool, t.endpoint(tool), ['member', 'list']);
      learner[tool] = /^([0-9a-f]+), unstarted, , http:\/\/127\.0\.0\.1:1, , true$/m.exec(r.stdout)![1]!;
    }
    const maskLearner = (tool: 'etcdctl' | 'latchctl', text: string): string =>
      text.replaceAll(learner[tool].padStart(16, ' '), '<learner>').replaceAll(learner[tool], '<learner>').replaceAll(BigInt(`0x${learner[tool]}`).toString(), '<learner>');
    const sortedLines = (tool: 'etcdctl' | 'latchctl', text: string): string => maskLearner(tool, text).split('\n').sort().join('\n');
    await t.run(['member', 'list'], { normalise: sortedLines });
    await t.run((tool) => ['member', 'update', learner[tool], '--peer-urls=http://127.0.0.1:2'], { normalise: maskLearner });
    await t.run((tool) => ['member', 'promote', learner[tool]], { code: 1, normalise: maskLearner, note: 'a learner that never caught up' });
    await t.run((tool) => ['member', 'remove', learner[tool], '-w', 'fields'], { code: 4, normalise: maskLearner, note: 'removed, then the output format is refused' });
    await t.run(['member', 'list']);
    await t.run(['move-leader'], { code: 128 });
    await t.run(['move-leader', 'zz'], { code: 128 });
    await t.run((tool) => ['move-leader', self(tool)], { note: 'to the leader itself' });
    await t.run(['defrag']);
  });

  test('transcript command line - flags anywhere, shorthands, prefix-matched commands, environment variables, rejected command lines', async () => {
    const t = await pair();
    await t.run(['put', 'foo', 'bar']);
    await t.run(['get', 'foo', '-wjson']);
    await t.run(['get', 'foo', '-w=fields']);
    await t.run(['-w', 'json', 'get', 'foo']);
    await t.run(['get', '--prefix=false', 'foo', '--limit=0x1']);
    await t.run(['mem', 'li']);
    await t.run(['le', 'list']);
    await t.run(['g', 'foo'], { note: 'unique prefix of get' });
    await t.run((tool) => ['get', 'foo'], { env: { ETCDCTL_WRITE_OUT: 'json' } });
    await t.run(['get', 'foo', '--bogus'], { code: 1, flagError: true });
    await t.run(['get', 'foo', '-x'], { code: 1, flagError: true });
    await t.run(['get', 'foo', '--limit'], { code: 1, flagError: true });
    await t.run(['get', 'foo', '--limit=abc'], { code: 1, flagError: true });
    await t.run(['get', 'foo', '--prefix=yes'], { code: 1, flagError: true });
    await t.run(['--dial-timeout=abc', 'get', 'foo'], { code: 1, flagError: true });
    await t.run(['lease', 'grant', '-5'], { code: 1, flagError: true });
    await t.run(['bogus'], { code: 1, flagError: true });
    await t.run(['l'], { code: 1, flagError: true, note: 'ambiguous prefix: del, lease, lock' });
    await t.run(['--bogus', 'get', 'foo'], { code: 1, flagError: true, note: 'an unknown flag swallows the next word' });
    // Environment: ETCDCTL_ENDPOINTS instead of --endpoints.
    const viaEnv = await Promise.all(
      (['etcdctl', 'latchctl'] as const).map((tool) => runTool(tool, t.endpoint(tool), ['get', 'foo'], { noEndpointFlag: true, env: { ETCDCTL_ENDPOINTS: t.endpoint(tool) } })),
    );
    expect(viaEnv.map((r) => [r.code, r.stdout])).toEqual([
      [0, 'foo\nbar\n'],
      [0, 'foo\nbar\n'],
    ]);
    // latchctl's own variable, and the conflict etcdctl reports when a variable and its flag are both given.
    const own = await runTool('latchctl', t.endpoint('latchctl'), ['get', 'foo'], { noEndpointFlag: true, env: { LATCHCTL_ENDPOINTS: t.endpoint('latchctl'), ETCDCTL_ENDPOINTS: '127.0.0.1:1' } });
    expect([own.code, own.stdout, own.stderr]).toEqual([0, 'foo\nbar\n', '']);
    const conflict = await Promise.all((['etcdctl', 'latchctl'] as const).map((tool) => runTool(tool, t.endpoint(tool), ['get', 'foo'], { env: { ETCDCTL_ENDPOINTS: t.endpoint(tool) } })));
    expect(conflict.map((r) => r.code)).toEqual([1, 1]);
    expect(conflict[0]!.stderr).toContain('conflicting environment variable "ETCDCTL_ENDPOINTS" is shadowed by corresponding command-line flag');
    expect(conflict[1]!.stderr).toBe('Error: conflicting environment variable "ETCDCTL_ENDPOINTS" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)\n');
    // Help: etcdctl's layout (its wording is etcdctl's own), exit 0.
    const help = await runTool('latchctl', t.endpoint('latchctl'), ['get', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^NAME:\n\tget - Gets the key or a range of keys\n\nUSAGE:\n\tlatchctl get \[options\] <key> \[range_end\]\n/);
    expect(help.stdout).toMatch(/OPTIONS:\n(.|\n)*--print-value-only\[=false\](.|\n)*GLOBAL OPTIONS:\n(.|\n)*--endpoints=\[127\.0\.0\.1:2379\]/);
    const group = await runTool('latchctl', t.endpoint('latchctl'), ['lease', 'bogus']);
    expect([group.code, group.stdout.split('\n').slice(0, 2)]).toEqual([0, ['NAME:', '\tlease - Lease related commands']]);
  });
});

describe('latchctl transcripts: authentication', () => {
  test('transcript auth - users, roles and permissions, auth enable/disable, --user/--password and the password prompt, denied requests', async () => {
    const t = await Transcript.start(members);
    await t.run(['user', 'add', 'root:rootpw']);
    await t.run(['user', 'add', 'alice', '--new-user-password=apw', '-w', 'json']);
    await t.run(['user', 'add', 'carol'], { stdin: 'cpw\ncpw\n', note: 'password typed twice after the prompts' });
    await t.run(['user', 'add', 'dave'], { stdin: 'one\ntwo\n', code: 128, note: 'the confirmation differs' });
    await t.run(['user', 'add', 'erin', '--interactive=false'], { stdin: 'epw\n' });
    await t.run(['role', 'add', 'reader']);
    await t.run(['role', 'add', 'reader'], { code: 1 });
    await t.run(['role', 'grant-permission', 'reader', 'readwrite', 'a/', '--prefix']);
    await t.run(['role', 'grant-permission', 'reader', 'read', 'b', 'c']);
    await t.run(['role', 'grant-permission', 'reader', 'write', 'k', '--from-key']);
    await t.run(['role', 'grant-permission', 'reader', 'sideways', 'k'], { code: 128 });
    await t.run(['role', 'grant-permission', 'reader', 'read', 'k', 'z', '--prefix'], { code: 128 });
    for (const w of ['simple', 'json', 'fields']) await t.run(['role', 'get', 'reader', '-w', w]);
    await t.run(['role', 'list', '-w', 'fields']);
    await t.run(['user', 'grant-role', 'alice', 'reader']);
    await t.run(['user', 'grant-role', 'alice', 'nosuch'], { code: 1 });
    await t.run(['user', 'get', 'alice', '--detail']);
    await t.run(['user', 'get', 'alice', '-w', 'fields'], { code: 4 });
    await t.run(['user', 'list', '-w', 'json']);
    await t.run(['role', 'revoke-permission', 'reader', 'b', 'c']);
    await t.run(['user', 'passwd', 'carol', '--interactive=false'], { stdin: 'newpw\n' });
    await t.run(['auth', 'enable']);
    await t.run(['get', 'a/1'], { code: 1, note: 'no credentials' });
    await t.run(['--user', 'root:rootpw', 'put', 'a/1', 'x']);
    await t.run(['--user', 'alice', '--password', 'apw', 'get', 'a/1']);
    await t.run(['--user', 'alice', 'get', 'a/1', '-w', 'json'], { stdin: 'apw\n', note: 'password prompt' });
    await t.run(['--user', 'alice:apw', 'put', 'b', 'x'], { code: 1, note: 'permission denied' });
    await t.run(['--user', 'alice:wrong', 'get', 'a/1'], { code: 2, note: 'bad password' });
    await t.run(['--user', 'carol:newpw', 'get', 'a/1'], { code: 1, note: 'carol has no role' });
    await t.run(['--user', 'alice:apw', 'endpoint', 'health']);
    await t.run(['auth', 'disable'], { code: 1 });
    await t.run(['--user', 'root:rootpw', 'auth', 'disable']);
    await t.run(['--user', 'root:rootpw', 'get', 'a/1'], { note: 'credentials ignored once authentication is off' });
  });
});

describe('latchctl and etcdctl against the same member', () => {
  test('same member - read-only commands print byte-identical output through both tools, protobuf included', async () => {
    const m = await members.start({ kind: 'latchkey' });
    for (const [k, v] of [['foo', 'bar'], ['foo1', 'é ü'], ['bin', '\u0001\u0002']]) {
      expect((await runInProcess(m.endpoint, ['put', k!, v!])).code).toBe(0);
    }
    expect((await runTool('etcdctl', m.endpoint, ['put', 'foo', 'bar2'])).code).toBe(0);
    const lease = (await runInProcess(m.endpoint, ['lease', 'grant', '300'])).stdout.split(' ')[1]!;
    expect((await runTool('etcdctl', m.endpoint, ['put', 'leased', 'v', `--lease=${lease}`])).code).toBe(0);
    const commands: string[][] = [
      ['get', '--prefix', '', '-w', 'json'],
      ['get', '--prefix', '', '-w', 'protobuf'],
      ['get', '--prefix', '', '-w', 'fields'],
      ['get', '--prefix', '', '--hex'],
      ['get', 'foo', '--rev=2', '-w', 'protobuf'],
      ['member', 'list', '-w', 'protobuf'],
      ['member', 'list', '-w', 'table'],
      ['member', 'list', '-w', 'json'],
      ['lease', 'list'],
      ['lease', 'list', '-w', 'fields'],
      ['lease', 'timetolive', lease, '-w', 'protobuf'],
      ['alarm', 'list', '-w', 'protobuf'],
      ['endpoint', 'hashkv', '-w', 'table'],
      ['txn', '-w', 'protobuf'],
    ];
    for (const args of commands) {
      const stdin = args[0] === 'txn' ? 'value("foo") = "bar2"\n\nget foo\n\n\n' : '';
      const [e, l] = await Promise.all([runTool('etcdctl', m.endpoint, args, { stdin }), runInProcess(m.endpoint, args, { stdin })]);
      expect.soft({ code: l.code, stdout: l.stdout, stderr: l.stderr }, `$ <ctl> ${args.join(' ')}`).toEqual({ code: e.code, stdout: e.stdout, stderr: cleanStderr(e.stderr) });
    }
  });
});

describe('latchctl against etcd', () => {
  test('transcript on etcd - a handful of commands through etcdctl and latchctl on two fresh etcd members', async () => {
    const t = await Transcript.start(members, 'etcd');
    await t.run(['put', 'foo', 'bar']);
    await t.run(['put', 'foo1', 'bar1', '-w', 'json']);
    await t.run(['get', '--prefix', 'foo', '-w', 'json']);
    await t.run(['get', '--prefix', 'foo', '--limit=1', '-w', 'fields']);
    await t.run(['txn', '-w', 'json'], { stdin: 'mod("foo") > "0"\n\nget foo\nput foo2 x\n\ndel foo\n\n' });
    await t.run(['lease', 'grant', '60', '-w', 'json']);
    await t.run((tool) => ['put', 'leased', 'v', `--lease=${t.lease(tool, 0)}`]);
    await t.run((tool) => ['lease', 'timetolive', t.lease(tool, 0), '--keys', '-w', 'json']);
    await t.run(['lease', 'keep-alive', '--once', '1234'], { code: 2 });
    await t.run(['member', 'list', '-w', 'json']);
    await t.run(['endpoint', 'status', '-w', 'table']);
    await t.run(['compaction', '3']);
    await t.run(['get', 'foo', '--rev=2'], { code: 1 });
    await t.run(['watch', '--rev=2', 'foo'], { code: 5 });
    await t.dialog(['watch', '--rev=3', '--prefix', 'foo', '-w', 'json'], [{ until: (out) => out.includes('"Events":[{'), what: 'the replayed events' }], { stop: true });
    await t.run(['lock', 'mutex', '--', 'sh', '-c', 'echo "locked ${ETCD_LOCK_KEY%/*} at $ETCD_LOCK_REV"'], { binary: true });
  });
});
