/**
 * `-w fields`: etcdctl's `"Name" : value` lines, one field per line — strings Go-quoted (`%q`), numbers and
 * booleans bare, a response header as its four fields, key-values as six (`"PrevKey"` … for previous ones).
 */
import type {
  AlarmResponse,
  DeleteRangeResponse,
  KeyValue,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  MemberListResponse,
  PutResponse,
  RangeResponse,
  ResponseHeader,
  TxnResponse,
  WatchResponse,
} from '@latchkey/proto';
import { goQuote, goStringSlice } from '../go-format.js';
import { ALARM_TYPE_NAMES, type DbStatus, type EpHashKV, type EpHealth, type EpStatus, EVENT_TYPE_NAMES, type PrinterOptions, UnsupportedPrinter, ZERO_HEADER } from './printer.js';
import { type AuthOutput, PERM_NAMES } from './auth.js';
import { CliError, ExitCode } from '../errors.js';
import type { Output } from '../io.js';

const u64 = (v: bigint): string => BigInt.asUintN(64, v).toString();

/** A response header as its four field lines (a missing header prints as zeros). */
export function fieldsHeader(h: ResponseHeader | undefined): string {
  const x = h ?? ZERO_HEADER;
  return `"ClusterID" : ${u64(x.clusterId)}\n"MemberID" : ${u64(x.memberId)}\n"Revision" : ${x.revision}\n"RaftTerm" : ${u64(x.raftTerm)}\n`;
}

export class FieldsPrinter extends UnsupportedPrinter {
  constructor(private readonly o: PrinterOptions) {
    super('fields');
  }

  private line(s: string): void {
    this.o.out.out(`${s}\n`);
  }

  private hdr(h: ResponseHeader | undefined): void {
    this.o.out.out(fieldsHeader(h));
  }

  private kv(pfx: string, kv: KeyValue): void {
    this.line(`"${pfx}Key" : ${goQuote(kv.key)}`);
    this.line(`"${pfx}CreateRevision" : ${kv.createRevision}`);
    this.line(`"${pfx}ModRevision" : ${kv.modRevision}`);
    this.line(`"${pfx}Version" : ${kv.version}`);
    this.line(`"${pfx}Value" : ${goQuote(kv.value)}`);
    this.line(`"${pfx}Lease" : ${kv.lease}`);
  }

  override get(r: RangeResponse): void {
    this.hdr(r.header);
    for (const kv of r.kvs) this.kv('', kv);
    this.line(`"More" : ${r.more}`);
    this.line(`"Count" : ${r.count}`);
  }

  override put(r: PutResponse): void {
    this.hdr(r.header);
    if (r.prevKv) this.kv('Prev', r.prevKv);
  }

  override del(r: DeleteRangeResponse): void {
    this.hdr(r.header);
    this.line(`"Deleted" : ${r.deleted}`);
    for (const kv of r.prevKvs) this.kv('Prev', kv);
  }

  override txn(r: TxnResponse): void {
    this.hdr(r.header);
    this.line(`"Succeeded" : ${r.succeeded}`);
    for (const op of r.responses) {
      if (op.responseDeleteRange) this.del(op.responseDeleteRange);
      else if (op.responsePut) this.put(op.responsePut);
      else if (op.responseRange) this.get(op.responseRange);
      else this.line(`"Unknown" : "nested txn"`);
    }
  }

  override watch(r: WatchResponse): void {
    this.hdr(r.header);
    for (const e of r.events) {
      this.line(`"Type" : ${EVENT_TYPE_NAMES[e.type] ?? e.type}`);
      if (e.prevKv) this.kv('Prev', e.prevKv);
      if (e.kv) this.kv('', e.kv);
    }
  }

  override grant(r: LeaseGrantResponse): void {
    this.hdr(r.header);
    this.line(`"ID" : ${r.ID}`);
    this.line(`"TTL" : ${r.TTL}`);
  }

  override revoke(_id: bigint, r: LeaseRevokeResponse): void {
    this.hdr(r.header);
  }

  override keepAlive(r: LeaseKeepAliveResponse): void {
    this.hdr(r.header);
    this.line(`"ID" : ${r.ID}`);
    this.line(`"TTL" : ${r.TTL}`);
  }

  override timeToLive(r: LeaseTimeToLiveResponse, _keys: boolean): void {
    this.hdr(r.header);
    this.line(`"ID" : ${r.ID}`);
    this.line(`"TTL" : ${r.TTL}`);
    this.line(`"GrantedTTL" : ${r.grantedTTL}`);
    for (const k of r.keys) this.line(`"Key" : ${goQuote(k)}`);
  }

  override leases(r: LeaseLeasesResponse): void {
    this.hdr(r.header);
    for (const l of r.leases) this.line(`"ID" : ${l.ID}`);
  }

  override memberList(r: MemberListResponse): void {
    this.hdr(r.header);
    for (const m of r.members) {
      this.line(`"ID" : ${u64(m.ID)}`);
      this.line(`"Name" : ${goQuote(m.name)}`);
      for (const u of m.peerURLs) this.line(`"PeerURL" : ${goQuote(u)}`);
      for (const u of m.clientURLs) this.line(`"ClientURL" : ${goQuote(u)}`);
      this.line(`"IsLearner" : ${m.isLearner}`);
      this.line('');
    }
  }

  override endpointHealth(list: EpHealth[]): void {
    for (const h of list) {
      this.line(`"Endpoint" : ${goQuote(h.ep)}`);
      this.line(`"Health" : ${h.health}`);
      this.line(`"Took" : ${h.took}`);
      this.line(`"Error" : ${h.error}`);
      this.line('');
    }
  }

  override endpointStatus(list: EpStatus[]): void {
    for (const { ep, resp } of list) {
      this.hdr(resp.header);
      this.line(`"Version" : ${goQuote(resp.version)}`);
      this.line(`"DBSize" : ${resp.dbSize}`);
      this.line(`"Leader" : ${u64(resp.leader)}`);
      this.line(`"IsLearner" : ${resp.isLearner}`);
      this.line(`"RaftIndex" : ${u64(resp.raftIndex)}`);
      this.line(`"RaftTerm" : ${u64(resp.raftTerm)}`);
      this.line(`"RaftAppliedIndex" : ${u64(resp.raftAppliedIndex)}`);
      this.line(`"Errors" : ${goStringSlice(resp.errors)}`);
      this.line(`"Endpoint" : ${goQuote(ep)}`);
      this.line('');
    }
  }

  override endpointHashKV(list: EpHashKV[]): void {
    for (const { ep, resp } of list) {
      this.hdr(resp.header);
      this.line(`"Endpoint" : ${goQuote(ep)}`);
      this.line(`"Hash" : ${resp.hash >>> 0}`);
      this.line('');
    }
  }

  override alarm(r: AlarmResponse): void {
    this.hdr(r.header);
    for (const a of r.alarms) {
      this.line(`"MemberID" : ${u64(a.memberID)}`);
      this.line(`"AlarmType" : ${ALARM_TYPE_NAMES[a.alarm] ?? a.alarm}`);
      this.line('');
    }
  }

  override dbStatus(s: DbStatus): void {
    this.line(`"Hash" : ${s.hash >>> 0}`);
    this.line(`"Revision" : ${s.revision}`);
    this.line(`"Keys" : ${s.totalKey}`);
    this.line(`"Size" : ${s.totalSize}`);
  }

  override auth(o: AuthOutput): void {
    authFields(o, this.o.out);
  }
}

/** The fields form: the header's four fields, then the response's own. */
function authFields(o: AuthOutput, io: Output): void {
  const hdr = (h: ResponseHeader | undefined): void => io.out(fieldsHeader(h));
  switch (o.kind) {
    case 'roleGet':
      hdr(o.resp.header);
      for (const p of o.resp.perm) io.out(`"PermType" :  ${PERM_NAMES[p.permType] ?? p.permType}\n"Key" : ${goQuote(p.key)}\n"RangeEnd" : ${goQuote(p.rangeEnd)}\n`);
      return;
    case 'roleList':
      hdr(o.resp.header);
      io.out(`"Roles" :${o.resp.roles.map((r) => ` ${goQuote(r)}`).join('')}\n`);
      return;
    case 'userGet':
    case 'userList':
      throw new CliError(ExitCode.BadFeature, 'fields not supported as output format');
    default:
      hdr(o.header);
  }
}
