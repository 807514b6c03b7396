/**
 * `-w simple` (the default): etcdctl's line-oriented output — `OK`, key and value lines, `lease … granted with
 * TTL(…)`, comma-separated member and endpoint rows. Keys and values are written as raw bytes (`--hex`: `\xNN`).
 */
import type {
  Permission,
  AlarmResponse,
  DeleteRangeResponse,
  KeyValue,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  MemberAddResponse,
  MemberListResponse,
  MemberPromoteResponse,
  MemberRemoveResponse,
  MemberUpdateResponse,
  MoveLeaderResponse,
  PutResponse,
  RangeResponse,
  TxnResponse,
  WatchResponse,
} from '@latchkey/proto';
import { hex16, hexEscaped, hexId, hexPad16 } from '../go-format.js';
import { ALARM_TYPE_NAMES, type DbStatus, type EpHashKV, type EpHealth, type EpStatus, EVENT_TYPE_NAMES, type Printer, type PrinterOptions, type QueueStatus } from './printer.js';
import type { AuthOutput } from './auth.js';
import { prefixRangeEnd } from '../keys.js';
import type { Output } from '../io.js';
import { dbStatusRows, endpointHashKVRows, endpointStatusRows, memberListRows } from './table.js';

export class SimplePrinter implements Printer {
  /** `get --print-value-only`: value lines only. */
  valueOnly = false;

  constructor(private readonly o: PrinterOptions) {}

  private line(s: string | Uint8Array = ''): void {
    if (typeof s === 'string') this.o.out.out(`${s}\n`);
    else {
      this.o.out.out(s);
      this.o.out.out('\n');
    }
  }

  /** etcdctl's printKV: the key line (unless value-only) and the value line. */
  private kv(kv: KeyValue): void {
    if (this.o.hex) {
      if (!this.valueOnly) this.line(hexEscaped(kv.key));
      this.line(hexEscaped(kv.value));
      return;
    }
    if (!this.valueOnly) this.line(kv.key);
    this.line(kv.value);
  }

  get(r: RangeResponse): void {
    for (const kv of r.kvs) this.kv(kv);
  }

  put(r: PutResponse): void {
    this.line('OK');
    if (r.prevKv) this.kv(r.prevKv);
  }

  del(r: DeleteRangeResponse): void {
    this.line(r.deleted.toString());
    for (const kv of r.prevKvs) this.kv(kv);
  }

  txn(r: TxnResponse): void {
    this.line(r.succeeded ? 'SUCCESS' : 'FAILURE');
    for (const op of r.responses) {
      this.line();
      if (op.responseDeleteRange) this.del(op.responseDeleteRange);
      else if (op.responsePut) this.put(op.responsePut);
      else if (op.responseRange) this.get(op.responseRange);
      else this.line('unexpected response (nested txn)');
    }
  }

  watch(r: WatchResponse): void {
    for (const e of r.events) {
      this.line(EVENT_TYPE_NAMES[e.type] ?? String(e.type));
      if (e.prevKv) this.kv(e.prevKv);
      if (e.kv) this.kv(e.kv);
    }
  }

  grant(r: LeaseGrantResponse): void {
    this.line(`lease ${hex16(r.ID)} granted with TTL(${r.TTL}s)`);
  }

  revoke(id: bigint, _r: LeaseRevokeResponse): void {
    this.line(`lease ${hex16(id)} revoked`);
  }

  keepAlive(r: LeaseKeepAliveResponse): void {
    this.line(`lease ${hex16(r.ID)} keepalived with TTL(${r.TTL})`);
  }

  timeToLive(r: LeaseTimeToLiveResponse, keys: boolean): void {
    if (r.grantedTTL === 0n && r.TTL === -1n) {
      this.line(`lease ${hex16(r.ID)} already expired`);
      return;
    }
    // Keys are raw bytes (Go prints string(key)): build the line as bytes so any key comes out unchanged.
    const parts: Uint8Array[] = [Buffer.from(`lease ${hex16(r.ID)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`)];
    if (keys) {
      parts.push(Buffer.from(', attached keys(['));
      r.keys.forEach((k, i) => {
        if (i > 0) parts.push(Buffer.from(' '));
        parts.push(k);
      });
      parts.push(Buffer.from('])'));
    }
    this.line(Buffer.concat(parts));
  }

  leases(r: LeaseLeasesResponse): void {
    this.line(`found ${r.leases.length} leases`);
    for (const l of r.leases) this.line(hex16(l.ID));
  }

  memberAdd(r: MemberAddResponse): void {
    this.line(`Member ${hexPad16(r.member?.ID ?? 0n)} added to cluster ${hexPad16(r.header?.clusterId ?? 0n)}`);
  }

  memberRemove(id: bigint, r: MemberRemoveResponse): void {
    this.line(`Member ${hexPad16(id)} removed from cluster ${hexPad16(r.header?.clusterId ?? 0n)}`);
  }

  memberUpdate(id: bigint, r: MemberUpdateResponse): void {
    this.line(`Member ${hexPad16(id)} updated in cluster ${hexPad16(r.header?.clusterId ?? 0n)}`);
  }

  memberPromote(id: bigint, r: MemberPromoteResponse): void {
    this.line(`Member ${hexPad16(id)} promoted in cluster ${hexPad16(r.header?.clusterId ?? 0n)}`);
  }

  memberList(r: MemberListResponse): void {
    for (const row of memberListRows(r)) this.line(row.join(', '));
  }

  /** etcdctl writes health lines to stderr. */
  endpointHealth(list: EpHealth[]): void {
    for (const h of list) {
      if (h.error === '') this.o.out.err(`${h.ep} is healthy: successfully committed proposal: took = ${h.took}\n`);
      else this.o.out.err(`${h.ep} is unhealthy: failed to commit proposal: ${h.error}\n`);
    }
  }

  endpointStatus(list: EpStatus[]): void {
    for (const row of endpointStatusRows(list)) this.line(row.join(', '));
  }

  endpointHashKV(list: EpHashKV[]): void {
    for (const row of endpointHashKVRows(list)) this.line(row.join(', '));
  }

  moveLeader(leader: bigint, target: bigint, _r: MoveLeaderResponse): void {
    this.line(`Leadership transferred from ${hexId(leader)} to ${hexId(target)}`);
  }

  /** Go's `%+v` of an AlarmMember: `memberID:123 alarm:NOSPACE `. */
  alarm(r: AlarmResponse): void {
    for (const a of r.alarms) this.line(`memberID:${BigInt.asUintN(64, a.memberID)} alarm:${ALARM_TYPE_NAMES[a.alarm] ?? a.alarm} `);
  }

  dbStatus(s: DbStatus): void {
    for (const row of dbStatusRows(s)) this.line(row.join(', '));
  }

  /**
   * latchctl `lock status` / `elect status`:
   * ```
   * lock mylock at revision 42
   * holder: mylock/694d7a1f5c3b2e01 (fencing token 17, lease 694d7a1f5c3b2e01, ttl 9s)
   * waiters: 2
   *   1. mylock/694d7a1f5c3b2e07 (revision 19, lease 694d7a1f5c3b2e07, ttl 10s)
   * ```
   */
  queueStatus(s: QueueStatus): void {
    const ttl = (t: bigint): string => (t < 0n ? 'expired' : `${t}s`);
    const entry = (e: QueueStatus['waiters'][number], rev: string): string =>
      `${e.key} (${rev} ${e.revision}, lease ${hex16(e.lease)}, ttl ${ttl(e.ttl)}${e.value !== undefined ? `, value ${JSON.stringify(e.value)}` : ''})`;
    this.line(`${s.kind} ${s.name} at revision ${s.revision}`);
    if (s.holder) this.line(`${s.kind === 'lock' ? 'holder' : 'leader'}: ${entry(s.holder, s.kind === 'lock' ? 'fencing token' : 'term')}`);
    else this.line(`${s.kind === 'lock' ? 'holder' : 'leader'}: none`);
    this.line(`${s.kind === 'lock' ? 'waiters' : 'candidates'}: ${s.waiters.length}`);
    s.waiters.forEach((w, i) => this.line(`  ${i + 1}. ${entry(w, 'revision')}`));
  }

  auth(o: AuthOutput): void {
    authSimple(o, this.o.out);
  }
}

/** The simple form. */
function authSimple(o: AuthOutput, io: Output): void {
  const line = (s: string | Uint8Array): void => {
    io.out(s);
    io.out('\n');
  };
  switch (o.kind) {
    case 'roleAdd':
      return line(`Role ${o.role} created`);
    case 'roleDelete':
      return line(`Role ${o.role} deleted`);
    case 'roleGrantPermission':
      return line(`Role ${o.role} updated`);
    case 'roleRevokePermission':
      if (o.end.length === 0) return line(`Permission of key ${o.key} is revoked from role ${o.role}`);
      if (!(o.end.length === 1 && o.end[0] === 0)) return line(`Permission of range [${o.key}, ${Buffer.from(o.end).toString('latin1')}) is revoked from role ${o.role}`);
      return line(`Permission of range [${o.key}, <open ended> is revoked from role ${o.role}`);
    case 'roleGet': {
      line(`Role ${o.role}`);
      const show = (p: Permission): void => {
        if (p.rangeEnd.length === 0) return line(Buffer.concat([Buffer.from('\t'), p.key]));
        const parts: Uint8Array[] = [Buffer.from('\t['), p.key];
        if (!(p.rangeEnd.length === 1 && p.rangeEnd[0] === 0)) parts.push(Buffer.from(', '), p.rangeEnd, Buffer.from(')'));
        else parts.push(Buffer.from(', <open ended>'));
        if (same(prefixRangeEnd(p.key), p.rangeEnd)) parts.push(Buffer.from(' (prefix '), p.key, Buffer.from(')'));
        line(Buffer.concat(parts));
      };
      line('KV Read:');
      for (const p of o.resp.perm) if (p.permType === 0 || p.permType === 2) show(p);
      line('KV Write:');
      for (const p of o.resp.perm) if (p.permType === 1 || p.permType === 2) show(p);
      return;
    }
    case 'roleList':
      for (const r of o.resp.roles) line(r);
      return;
    case 'userAdd':
      return line(`User ${o.user} created`);
    case 'userDelete':
      return line(`User ${o.user} deleted`);
    case 'userGrantRole':
      return line(`Role ${o.role} is granted to user ${o.user}`);
    case 'userRevokeRole':
      return line(`Role ${o.role} is revoked from user ${o.user}`);
    case 'userChangePassword':
      return line('Password updated');
    case 'userGet':
      line(`User: ${o.user}`);
      return line(`Roles:${o.resp.roles.map((r) => ` ${r}`).join('')}`);
    case 'userList':
      for (const u of o.resp.users) line(u);
      return;
  }
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
