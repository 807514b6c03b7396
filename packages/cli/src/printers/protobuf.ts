/**
 * `-w protobuf`: the response's protobuf encoding written raw to stdout (no newline), for the responses etcdctl
 * can marshal — the etcdserverpb messages of KV, txn, watch, member, lease, alarm and move-leader calls.
 * Endpoint and snapshot results have no protobuf form (exit 4, `protobuf not supported as output format`).
 */
import {
  AuthRoleGetResponse,
  AuthRoleListResponse,
  AuthUserAddResponse,
  AuthUserGetResponse,
  AuthUserListResponse,
  AlarmResponse,
  DeleteRangeResponse,
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
  LeaseRevokeResponse,
  ResponseHeader,
  type LeaseGrantResponse,
  type LeaseKeepAliveResponse,
  type LeaseLeasesResponse,
  type LeaseTimeToLiveResponse,
} from '@latchkey/proto';
import { type PrinterOptions, UnsupportedPrinter } from './printer.js';
import type { AuthOutput } from './auth.js';
import type { Output } from '../io.js';

export class ProtobufPrinter extends UnsupportedPrinter {
  constructor(private readonly o: PrinterOptions) {
    super('protobuf');
  }

  override get(r: RangeResponse): void {
    this.o.out.out(RangeResponse.encode(r));
  }
  override put(r: PutResponse): void {
    this.o.out.out(PutResponse.encode(r));
  }
  override del(r: DeleteRangeResponse): void {
    this.o.out.out(DeleteRangeResponse.encode(r));
  }
  override txn(r: TxnResponse): void {
    this.o.out.out(TxnResponse.encode(r));
  }
  /** etcdctl re-encodes the fields clientv3 keeps: header, events, compact revision, canceled, created. */
  override watch(r: WatchResponse): void {
    this.o.out.out(WatchResponse.encode({ header: r.header, events: r.events, compactRevision: r.compactRevision, canceled: r.canceled, created: r.created }));
  }
  /**
   * clientv3's lease structs embed the response header, whose Marshal method Go promotes: etcdctl prints just
   * the header's encoding for them.
   */
  private header(h: ResponseHeader | undefined): void {
    if (h) this.o.out.out(ResponseHeader.encode(h));
  }
  override grant(r: LeaseGrantResponse): void {
    this.header(r.header);
  }
  override revoke(_id: bigint, r: LeaseRevokeResponse): void {
    this.o.out.out(LeaseRevokeResponse.encode(r));
  }
  override keepAlive(r: LeaseKeepAliveResponse): void {
    this.header(r.header);
  }
  override timeToLive(r: LeaseTimeToLiveResponse, _keys: boolean): void {
    this.header(r.header);
  }
  override leases(r: LeaseLeasesResponse): void {
    this.header(r.header);
  }
  override memberAdd(r: MemberAddResponse): void {
    this.o.out.out(MemberAddResponse.encode(r));
  }
  override memberRemove(_id: bigint, r: MemberRemoveResponse): void {
    this.o.out.out(MemberRemoveResponse.encode(r));
  }
  override memberUpdate(_id: bigint, r: MemberUpdateResponse): void {
    this.o.out.out(MemberUpdateResponse.encode(r));
  }
  override memberPromote(_id: bigint, r: MemberPromoteResponse): void {
    this.o.out.out(MemberPromoteResponse.encode(r));
  }
  override memberList(r: MemberListResponse): void {
    this.o.out.out(MemberListResponse.encode(r));
  }
  override alarm(r: AlarmResponse): void {
    this.o.out.out(AlarmResponse.encode(r));
  }
  override moveLeader(_leader: bigint, _target: bigint, r: MoveLeaderResponse): void {
    this.o.out.out(MoveLeaderResponse.encode(r));
  }

  override auth(o: AuthOutput): void {
    authProtobuf(o, this.o.out);
  }
}

/** The protobuf form: the response message's encoding. */
function authProtobuf(o: AuthOutput, io: Output): void {
  switch (o.kind) {
    case 'roleGet':
      return io.out(AuthRoleGetResponse.encode(o.resp));
    case 'roleList':
      return io.out(AuthRoleListResponse.encode(o.resp));
    case 'userGet':
      return io.out(AuthUserGetResponse.encode(o.resp));
    case 'userList':
      return io.out(AuthUserListResponse.encode(o.resp));
    default:
      // Every other auth response is a header alone, encoded alike.
      return io.out(AuthUserAddResponse.encode({ header: o.header }));
  }
}
