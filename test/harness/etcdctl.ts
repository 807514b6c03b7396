/**
 * Running etcdctl (v3 API) against one endpoint, and making its output comparable between two servers.
 *
 * ```ts
 * const r = await etcdctl('127.0.0.1:2379', ['put', 'foo', 'bar']);          // { stdout: 'OK\n', stderr: '', code: 0 }
 * await etcdctl(ep, ['txn'], { stdin: 'value("k") = "v"\n\nput k w\n\n\n' });
 * await etcdctl(ep, ['put', 'big'], { stdinFile: '/tmp/value.bin' });        // etcdctl put big < /tmp/value.bin
 * cleanStderr(r.stderr);                                                     // drops etcdctl's zap JSON warnings
 * ```
 *
 * Masking: some output legitimately differs between two servers (ids, raft term and index, versions, sizes,
 * durations, ports). The `mask*` helpers replace exactly those pieces with placeholders such as `<member-id>`
 * and leave everything else alone, so revisions, keys, values, counts and error messages are still compared.
 * Prefer the targeted helpers (which know the values to replace) over wide regular expressions.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

/** The etcdctl binary; override with `ETCDCTL_BIN`. */
export const ETCDCTL_BIN = process.env['ETCDCTL_BIN'] ?? 'etcdctl';

export interface EtcdctlResult {
  stdout: string;
  /** Raw stderr, including etcdctl's zap warning lines; see `cleanStderr`. */
  stderr: string;
  /** Exit code; for a signal death, 128 + signal number as a shell would report it. */
  code: number;
}

export interface EtcdctlOptions {
  /** Written to etcdctl's stdin, which is then closed. */
  stdin?: string | Uint8Array;
  /** A file opened as etcdctl's stdin, like `etcdctl put k < file` (for large values). */
  stdinFile?: string;
  /** Kill etcdctl if it has not exited after this long (default 15 s); the result then has code 124. */
  timeoutMs?: number;
  /** Extra environment variables. `ETCDCTL_API=3` is always set. */
  env?: Record<string, string>;
}

/**
 * Runs `etcdctl --endpoints=<endpoint> <args…>` with `ETCDCTL_API=3`.
 * The endpoint is `host:port` (no scheme), as etcdctl prints it back in `endpoint health/status`.
 */
export function etcdctl(endpoint: string, args: readonly string[], options: EtcdctlOptions = {}): Promise<EtcdctlResult> {
  const fullArgs = [`--endpoints=${endpoint}`, '--dial-timeout=3s', ...args];
  return new Promise((resolve, reject) => {
    let stdinFd: number | undefined;
    if (options.stdinFile !== undefined) stdinFd = fs.openSync(options.stdinFile, 'r');
    const child = spawn(ETCDCTL_BIN, fullArgs, {
      env: { ...process.env, ...options.env, ETCDCTL_API: '3' },
      stdio: [stdinFd ?? 'pipe', 'pipe', 'pipe'],
    });
    if (stdinFd !== undefined) fs.closeSync(stdinFd);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 15_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`etcdctl: cannot run ${ETCDCTL_BIN}: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const signalCode = signal === null ? 0 : 128 + (signalNumber(signal) ?? 0);
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: timedOut ? 124 : (code ?? signalCode),
      });
    });
    if (stdinFd === undefined) {
      child.stdin!.on('error', () => {
        // etcdctl may exit before reading all of stdin (for example on a usage error); that is its answer.
      });
      child.stdin!.end(options.stdin ?? '');
    }
  });
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return os.constants.signals[signal];
}

// ------------------------------------------------------------------------------------------------ stderr cleaning

/**
 * Removes etcdctl's zap logger lines from stderr. Every failed unary call logs, before `Error: …`, a line like
 * `{"level":"warn","ts":"2026-…","caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed",
 * "target":"endpoint://client-<uuid>/127.0.0.1:2379","attempt":0,"error":"rpc error: code = InvalidArgument desc = …"}`
 * which carries timestamps, random target names and attempt counters. Any stderr line that is a JSON object with a
 * `level` field is a zap line; every other line is kept verbatim.
 *
 * With `keepErrors`, a zap line is not dropped but reduced to its stable part,
 * `<zap warn> retrying of unary invoker failed: rpc error: code = InvalidArgument desc = …`, so that the gRPC
 * status code (which etcdctl's `Error: …` line does not print) is still compared.
 */
export function cleanStderr(stderr: string, options: { keepErrors?: boolean } = {}): string {
  const out: string[] = [];
  for (const line of stderr.split('\n')) {
    const zap = parseZapLine(line);
    if (zap === undefined) out.push(line);
    else if (options.keepErrors) out.push(`<zap ${String(zap['level'])}> ${String(zap['msg'])}${zap['error'] !== undefined ? `: ${String(zap['error'])}` : ''}`);
  }
  return out.join('\n');
}

function parseZapLine(line: string): Record<string, unknown> | undefined {
  const t = line.trim();
  if (!t.startsWith('{') || !t.endsWith('}')) return undefined;
  try {
    const parsed: unknown = JSON.parse(t);
    if (typeof parsed === 'object' && parsed !== null && 'level' in parsed) return parsed as Record<string, unknown>;
  } catch {
    // not JSON: an ordinary line
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------------ masking

/** Identity of one server as seen through etcdctl: what differs legitimately between two servers. */
export interface ServerIdentity {
  /** `host:port` of the client endpoint. */
  endpoint: string;
  /** Other literal strings to replace, for example peer URLs and temp paths, with their placeholders. */
  literals?: ReadonlyArray<readonly [text: string, placeholder: string]>;
  memberId: bigint;
  clusterId: bigint;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Replaces `value` where it stands as a whole token (not inside a longer run of digits, hex digits or letters). */
function replaceToken(text: string, value: string, placeholder: string): string {
  if (value === '') return text;
  return text.replace(new RegExp(`(?<![0-9A-Za-z])${escapeRegExp(value)}(?![0-9A-Za-z])`, 'g'), placeholder);
}

/**
 * Member and cluster ids, in every form etcdctl prints them: decimal in `-w json`, `%x` in simple and table output
 * (`member list`, `endpoint status`), and `%016x` (zero-padded). Only the given server's own ids are replaced, so a
 * wrong id in some other response still shows up as a difference.
 */
export function maskMemberIds(text: string, id: Pick<ServerIdentity, 'memberId' | 'clusterId'>): string {
  let out = text;
  for (const [value, name] of [
    [id.memberId, '<member-id>'],
    [id.clusterId, '<cluster-id>'],
  ] as const) {
    out = replaceToken(out, value.toString(10), name);
    out = replaceToken(out, value.toString(16), name);
    out = replaceToken(out, value.toString(16).padStart(16, '0'), name);
  }
  return out;
}

/**
 * Lease ids: the given ids in decimal and `%016x`/`%x` form, plus (when `ids` is omitted) any 16-hex-digit word
 * following `lease ` as etcdctl prints it (`lease 694d7a1f5c3b2e01 granted with TTL(60s)`).
 */
export function maskLeaseIds(text: string, ids?: readonly bigint[]): string {
  if (ids === undefined) return text.replace(/\blease [0-9a-f]{16}\b/g, 'lease <lease-id>');
  let out = text;
  for (const id of ids) {
    out = replaceToken(out, id.toString(10), '<lease-id>');
    out = replaceToken(out, id.toString(16).padStart(16, '0'), '<lease-id>');
    out = replaceToken(out, id.toString(16), '<lease-id>');
  }
  return out;
}

/** `"raft_term":N` in response headers, `"raftTerm":N` in `endpoint status -w json`, `"RaftTerm" : N` in `-w fields`. */
export function maskRaftTerm(text: string): string {
  return text
    .replace(/"raft_term":\d+/g, '"raft_term":<term>')
    .replace(/"raftTerm":\d+/g, '"raftTerm":<term>')
    .replace(/"RaftTerm" : \d+/g, '"RaftTerm" : <term>');
}

/** `"raftIndex":N` and `"raftAppliedIndex":N` in `endpoint status -w json`. */
export function maskRaftIndex(text: string): string {
  return text.replace(/"raftIndex":\d+/g, '"raftIndex":<index>').replace(/"raftAppliedIndex":\d+/g, '"raftAppliedIndex":<index>');
}

/** The server version string, `"version":"3.4.23"` (string-valued only: a key's numeric `"version":N` is kept). */
export function maskVersionString(text: string): string {
  return text.replace(/"version":"[^"]*"/g, '"version":<version>');
}

/** `"dbSize":N` and `"dbSizeInUse":N`. */
export function maskDbSize(text: string): string {
  return text.replace(/"dbSize":\d+/g, '"dbSize":<db-size>').replace(/"dbSizeInUse":\d+/g, '"dbSizeInUse":<db-size>');
}

/** Durations: `took = 1.190821ms` (endpoint health) and `"took":"8.8ms"` (its JSON form). */
export function maskDurations(text: string): string {
  return text
    .replace(/took = [0-9.]+(?:ns|µs|us|ms|s|m|h)(?:[0-9.]+(?:ns|µs|us|ms|s))*/g, 'took = <duration>')
    .replace(/"took":"[^"]*"/g, '"took":<duration>');
}

/**
 * A lease's remaining TTL, which depends on when the command ran: `remaining(98s)` in simple `lease timetolive`
 * output and `"ttl":98` in its JSON. The granted TTL (`granted with TTL(100s)`, `"granted-ttl":100`) is kept.
 */
export function maskRemainingTtl(text: string): string {
  return text.replace(/remaining\(\d+s\)/g, 'remaining(<ttl>)').replace(/"ttl":\d+/g, '"ttl":<ttl>');
}

/**
 * Lists whose order the server leaves unspecified, sorted so that two servers compare equal: the keys attached to
 * a lease in `lease timetolive --keys` (etcd walks a Go map): `attached keys([b a])` and `"keys":["Yg==","YQ=="]`.
 */
export function sortUnorderedLists(text: string): string {
  return text
    .replace(/attached keys\(\[([^\]]*)\]\)/g, (_, keys: string) => `attached keys([${keys.split(' ').sort().join(' ')}])`)
    .replace(/"keys":\[("[^\]]*")\]/g, (_, keys: string) => `"keys":[${keys.split(',').sort().join(',')}]`);
}

/** The server's own endpoint and any extra literals (peer URLs, temp paths) → placeholders. */
export function maskLiterals(text: string, id: Pick<ServerIdentity, 'endpoint' | 'literals'>): string {
  let out = text.split(id.endpoint).join('<endpoint>');
  for (const [literal, placeholder] of id.literals ?? []) out = out.split(literal).join(placeholder);
  return out;
}

/**
 * One line of simple `endpoint status` output:
 * `127.0.0.1:42479, 667880157b8812c8, 3.4.23, 25 kB, true, false, 2, 67, 67, ` →
 * `127.0.0.1:42479, <member-id>, <version>, <db-size>, true, false, <term>, <index>, <index>, `.
 * The endpoint (masked separately by `maskLiterals`), isLeader, isLearner and errors are kept. Lines that are
 * not status lines are returned unchanged.
 */
export function maskEndpointStatusLine(line: string): string {
  const cols = line.split(', ');
  if (cols.length !== 10) return line;
  const placeholders: Record<number, string> = { 1: '<member-id>', 2: '<version>', 3: '<db-size>', 6: '<term>', 7: '<index>', 8: '<index>' };
  return cols.map((c, i) => placeholders[i] ?? c).join(', ');
}

/**
 * Everything that legitimately differs between two fresh single-member servers, for one server's output:
 * its ids, endpoint and literals, raft term/index, version string, DB size and durations.
 * Lease ids are masked too when `leaseIds` is given (or, with `maskAnyLeaseId`, any `lease <16 hex>`).
 */
export function maskServerOutput(
  text: string,
  id: ServerIdentity,
  extra: { leaseIds?: readonly bigint[]; maskAnyLeaseId?: boolean; endpointStatusLines?: boolean } = {},
): string {
  let out = maskLiterals(text, id);
  if (extra.endpointStatusLines) out = out.split('\n').map(maskEndpointStatusLine).join('\n');
  out = maskMemberIds(out, id);
  if (extra.leaseIds !== undefined) out = maskLeaseIds(out, extra.leaseIds);
  if (extra.maskAnyLeaseId) out = maskLeaseIds(out);
  out = maskRaftTerm(out);
  out = maskRaftIndex(out);
  out = maskVersionString(out);
  out = maskDbSize(out);
  out = maskDurations(out);
  return out;
}

/**
 * Learns a server's member and cluster ids via `endpoint status -w json` (the header's member_id and cluster_id).
 * These are then masked by value, so a different id anywhere else in that server's output is still caught.
 */
export async function identify(endpoint: string, literals?: ServerIdentity['literals']): Promise<ServerIdentity> {
  const r = await etcdctl(endpoint, ['endpoint', 'status', '-w', 'json']);
  if (r.code !== 0) throw new Error(`identify ${endpoint}: etcdctl endpoint status failed (${r.code}): ${r.stderr}`);
  // Integers above 2^53: read them as text, not through JSON.parse.
  const memberId = /"member_id":(\d+)/.exec(r.stdout)?.[1];
  const clusterId = /"cluster_id":(\d+)/.exec(r.stdout)?.[1];
  if (memberId === undefined || clusterId === undefined) throw new Error(`identify ${endpoint}: no ids in ${r.stdout}`);
  return { endpoint, literals, memberId: BigInt(memberId), clusterId: BigInt(clusterId) };
}
