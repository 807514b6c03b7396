/**
 * The output printers behind `-w/--write-out`, with etcdctl's split of responsibilities: a command fetches a
 * response and hands it to the printer of the chosen format; a format that has no rendering for a response
 * fails with etcdctl's `<format> not supported as output format` (exit 4).
 *
 * Printers take the wire responses (`@latchkey/proto` messages) as they came from the server, so that
 * `-w json` and `-w protobuf` show exactly what was received.
 */
import type {
  AlarmResponse,
  DeleteRangeResponse,
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
  StatusResponse,
  HashKVResponse,
  TxnResponse,
  WatchResponse,
} from '@latchkey/proto';
import { CliError, ExitCode } from '../errors.js';
import type { Output } from '../io.js';
import type { AuthOutput } from './auth.js';

/** `endpoint health` result for one endpoint (etcdctl's epHealth). */
export interface EpHealth {
  ep: string;
  health: boolean;
  /** Go duration text (`1.19ms`); empty when no call was made. */
  took: string;
  error: string;
}

export interface EpStatus {
  ep: string;
  resp: StatusResponse;
}

export interface EpHashKV {
  ep: string;
  resp: HashKVResponse;
}

/** `snapshot status` (etcd's snapshot.Status). */
export interface DbStatus {
  hash: number;
  revision: bigint;
  totalKey: number;
  totalSize: number;
}

/** One key of a lock's queue (latchctl `lock status`). */
export interface QueueEntry {
  key: string;
  lease: bigint;
  /** Create revision: the holder's fencing token, a waiter's place in the queue. */
  revision: bigint;
  /** Remaining lease TTL in seconds; -1 when the lease is gone. */
  ttl: bigint;
  /** The value stored under the key (an election candidate's proposal). */
  value?: string;
}

/** latchctl `lock status` / `elect status`. */
export interface QueueStatus {
  kind: 'lock' | 'election';
  name: string;
  /** Store revision the status was read at. */
  revision: bigint;
  holder: QueueEntry | undefined;
  waiters: QueueEntry[];
}

export interface Printer {
  get(r: RangeResponse): void;
  put(r: PutResponse): void;
  del(r: DeleteRangeResponse): void;
  txn(r: TxnResponse): void;
  watch(r: WatchResponse): void;
  grant(r: LeaseGrantResponse): void;
  revoke(id: bigint, r: LeaseRevokeResponse): void;
  keepAlive(r: LeaseKeepAliveResponse): void;
  timeToLive(r: LeaseTimeToLiveResponse, keys: boolean): void;
  leases(r: LeaseLeasesResponse): void;
  memberAdd(r: MemberAddResponse): void;
  memberRemove(id: bigint, r: MemberRemoveResponse): void;
  memberUpdate(id: bigint, r: MemberUpdateResponse): void;
  memberPromote(id: bigint, r: MemberPromoteResponse): void;
  memberList(r: MemberListResponse): void;
  endpointHealth(list: EpHealth[]): void;
  endpointStatus(list: EpStatus[]): void;
  endpointHashKV(list: EpHashKV[]): void;
  moveLeader(leader: bigint, target: bigint, r: MoveLeaderResponse): void;
  alarm(r: AlarmResponse): void;
  dbStatus(s: DbStatus): void;
  queueStatus(s: QueueStatus): void;
  /** `user …` / `role …` results. */
  auth(o: AuthOutput): void;
}

export type Format = 'simple' | 'json' | 'fields' | 'table' | 'protobuf';

export interface PrinterOptions {
  out: Output;
  /** `--hex`: keys and values as `\xNN` bytes (simple output only, as in etcdctl). */
  hex: boolean;
}

/** The printer that fails every call: the base the partial formats fill in. */
export class UnsupportedPrinter implements Printer {
  constructor(protected readonly formatName: string) {}
  protected unsupported(): never {
    throw new CliError(ExitCode.BadFeature, `${this.formatName} not supported as output format`);
  }
  get(_r: RangeResponse): void { this.unsupported(); }
  put(_r: PutResponse): void { this.unsupported(); }
  del(_r: DeleteRangeResponse): void { this.unsupported(); }
  txn(_r: TxnResponse): void { this.unsupported(); }
  watch(_r: WatchResponse): void { this.unsupported(); }
  grant(_r: LeaseGrantResponse): void { this.unsupported(); }
  revoke(_id: bigint, _r: LeaseRevokeResponse): void { this.unsupported(); }
  keepAlive(_r: LeaseKeepAliveResponse): void { this.unsupported(); }
  timeToLive(_r: LeaseTimeToLiveResponse, _keys: boolean): void { this.unsupported(); }
  leases(_r: LeaseLeasesResponse): void { this.unsupported(); }
  memberAdd(_r: MemberAddResponse): void { this.unsupported(); }
  memberRemove(_id: bigint, _r: MemberRemoveResponse): void { this.unsupported(); }
  memberUpdate(_id: bigint, _r: MemberUpdateResponse): void { this.unsupported(); }
  memberPromote(_id: bigint, _r: MemberPromoteResponse): void { this.unsupported(); }
  memberList(_r: MemberListResponse): void { this.unsupported(); }
  endpointHealth(_list: EpHealth[]): void { this.unsupported(); }
  endpointStatus(_list: EpStatus[]): void { this.unsupported(); }
  endpointHashKV(_list: EpHashKV[]): void { this.unsupported(); }
  moveLeader(_leader: bigint, _target: bigint, _r: MoveLeaderResponse): void { this.unsupported(); }
  alarm(_r: AlarmResponse): void { this.unsupported(); }
  dbStatus(_s: DbStatus): void { this.unsupported(); }
  queueStatus(_s: QueueStatus): void { this.unsupported(); }
  auth(_o: AuthOutput): void { this.unsupported(); }
}

export const ZERO_HEADER = { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n } as const;

/** The names etcd gives its enums in text output. */
export const EVENT_TYPE_NAMES: Record<number, string> = { 0: 'PUT', 1: 'DELETE' };
export const ALARM_TYPE_NAMES: Record<number, string> = { 0: 'NONE', 1: 'NOSPACE', 2: 'CORRUPT' };
