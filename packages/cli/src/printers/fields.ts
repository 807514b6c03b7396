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
import { type AuthOutput, authFields } from './auth.js';

const u64 = (v: bigint): string => BigInt.asUintN(64, v).toString();

export class FieldsPrinter extends UnsupportedPrinter {
  constructor(private readonly o: PrinterOptions) {
    super('fields');
  }

  private line(s: string): void {
    this.o.out.out(`${s}\n`);
  }

  private hdr(h: ResponseHeader | undefined): void {
    const x = h ?? ZERO_HEADER;
    this.line(`"ClusterID" : ${u64(x.clusterId)}`);
    this.line(`"MemberID" : ${u64(x.memberId)}`);
    this.line(`"Revision" : ${x.revision}`);
    this.line(`"RaftTerm" : ${u64(x.raftTerm)}`);
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
