/**
 * `-w json`: etcdctl's JSON, which is Go's `encoding/json` applied to the gogoproto structs (and to clientv3's
 * wrapper structs) — not the gateway's jsonpb. The differences matter to scripts, so they are reproduced:
 *
 *  - 64-bit integers are JSON numbers, exact (never rounded through a double);
 *  - bytes are standard base64; enums are numbers (`"type":1` for DELETE; PUT = 0 is omitted);
 *  - fields appear in the Go struct's order under their `json` tag names, zero values omitted (`omitempty`)
 *    where the tag says so — so a header is `{"cluster_id":…,"member_id":…,"revision":…,"raft_term":…}` and
 *    `member list` headers have no revision;
 *  - clientv3's wrappers keep their own shapes: lease responses flatten the header into the top level,
 *    `lease timetolive` uses `id`/`ttl`/`granted-ttl`/`keys` (null when absent), watch responses are
 *    `{"Header":…,"Events":[…],"CompactRevision":…,"Canceled":…,"Created":…}`, txn sub-responses are
 *    `{"Response":{"ResponseRange":…}}`;
 *  - strings are escaped as Go does (`<`, `>`, `&` as `\u003c` …).
 */
import type {
  AlarmResponse,
  DeleteRangeResponse,
  Event,
  KeyValue,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  Member,
  MemberAddResponse,
  MemberListResponse,
  MemberPromoteResponse,
  MemberRemoveResponse,
  MemberUpdateResponse,
  MoveLeaderResponse,
  PutResponse,
  RangeResponse,
  ResponseHeader,
  ResponseOp,
  StatusResponse,
  HashKVResponse,
  TxnResponse,
  WatchResponse,
} from '@latchkey/proto';
import { goJsonString } from '../go-format.js';
import type { DbStatus, EpHashKV, EpHealth, EpStatus, Printer, PrinterOptions, QueueStatus } from './printer.js';
import type { AuthOutput } from './auth.js';
import type { Output } from '../io.js';

/** A JSON object under construction: fields in insertion order, values already encoded. */
class Obj {
  private readonly parts: string[] = [];
  /** Adds a field whose value is already JSON text. */
  raw(name: string, json: string): this {
    this.parts.push(`${goJsonString(name)}:${json}`);
    return this;
  }
  /** An integer field; `omitEmpty` skips zero. */
  int(name: string, v: bigint | number, omitEmpty = true): this {
    if (omitEmpty && (v === 0n || v === 0)) return this;
    return this.raw(name, v.toString());
  }
  /** A uint64 field (printed unsigned even if it was decoded as a negative int64). */
  uint(name: string, v: bigint, omitEmpty = true): this {
    return this.int(name, BigInt.asUintN(64, v), omitEmpty);
  }
  str(name: string, v: string, omitEmpty = true): this {
    if (omitEmpty && v === '') return this;
    return this.raw(name, goJsonString(v));
  }
  bool(name: string, v: boolean, omitEmpty = true): this {
    if (omitEmpty && !v) return this;
    return this.raw(name, String(v));
  }
  bytes(name: string, v: Uint8Array, omitEmpty = true): this {
    if (omitEmpty && v.length === 0) return this;
    return this.raw(name, b64(v));
  }
  /** A sub-object or array field, omitted when `json` is undefined. */
  opt(name: string, json: string | undefined): this {
    return json === undefined ? this : this.raw(name, json);
  }
  /** Copies the fields of another object (Go's embedded struct fields). */
  embed(o: Obj | undefined): this {
    if (o) this.parts.push(...o.parts);
    return this;
  }
  toString(): string {
    return `{${this.parts.join(',')}}`;
  }
}

const b64 = (v: Uint8Array): string => `"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"`;

/** A slice field with `omitempty`: undefined (omitted) when empty. */
function list<T>(items: readonly T[], enc: (t: T) => string): string | undefined {
  return items.length === 0 ? undefined : `[${items.map(enc).join(',')}]`;
}

function headerFields(h: ResponseHeader): Obj {
  return new Obj().uint('cluster_id', h.clusterId).uint('member_id', h.memberId).int('revision', h.revision).uint('raft_term', h.raftTerm);
}

/** A `*ResponseHeader` field's JSON: undefined (omitted) when nil. */
export const headerJson = (h: ResponseHeader | undefined): string | undefined => (h === undefined ? undefined : headerFields(h).toString());
const header = headerJson;

export function keyValueJson(kv: KeyValue): string {
  return new Obj()
    .bytes('key', kv.key)
    .int('create_revision', kv.createRevision)
    .int('mod_revision', kv.modRevision)
    .int('version', kv.version)
    .bytes('value', kv.value)
    .int('lease', kv.lease)
    .toString();
}

export function rangeJson(r: RangeResponse): string {
  return new Obj().opt('header', header(r.header)).opt('kvs', list(r.kvs, keyValueJson)).bool('more', r.more).int('count', r.count).toString();
}

export function putJson(r: PutResponse): string {
  return new Obj().opt('header', header(r.header)).opt('prev_kv', r.prevKv && keyValueJson(r.prevKv)).toString();
}

export function deleteJson(r: DeleteRangeResponse): string {
  return new Obj().opt('header', header(r.header)).int('deleted', r.deleted).opt('prev_kvs', list(r.prevKvs, keyValueJson)).toString();
}

function responseOpJson(op: ResponseOp): string {
  let inner: string;
  if (op.responseRange) inner = new Obj().raw('ResponseRange', rangeJson(op.responseRange)).toString();
  else if (op.responsePut) inner = new Obj().raw('ResponsePut', putJson(op.responsePut)).toString();
  else if (op.responseDeleteRange) inner = new Obj().raw('ResponseDeleteRange', deleteJson(op.responseDeleteRange)).toString();
  else if (op.responseTxn) inner = new Obj().raw('ResponseTxn', txnJson(op.responseTxn)).toString();
  else inner = 'null';
  return new Obj().raw('Response', inner).toString();
}

export function txnJson(r: TxnResponse): string {
  return new Obj().opt('header', header(r.header)).bool('succeeded', r.succeeded).opt('responses', list(r.responses, responseOpJson)).toString();
}

function eventJson(e: Event): string {
  return new Obj().int('type', e.type).opt('kv', e.kv && keyValueJson(e.kv)).opt('prev_kv', e.prevKv && keyValueJson(e.prevKv)).toString();
}

/** clientv3.WatchResponse: exported fields only, the header by value, events `[]` when there are none (clientv3 always makes the slice). */
export function watchJson(r: WatchResponse): string {
  return new Obj()
    .raw('Header', headerFields(r.header ?? { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n }).toString())
    .raw('Events', `[${r.events.map(eventJson).join(',')}]`)
    .int('CompactRevision', r.compactRevision, false)
    .bool('Canceled', r.canceled, false)
    .bool('Created', r.created, false)
    .toString();
}

function memberJson(m: Member): string {
  return new Obj()
    .uint('ID', m.ID)
    .str('name', m.name)
    .opt('peerURLs', list(m.peerURLs, goJsonString))
    .opt('clientURLs', list(m.clientURLs, goJsonString))
    .bool('isLearner', m.isLearner)
    .toString();
}

function membersJson(r: { header?: ResponseHeader; members: Member[] }, member?: Member): string {
  return new Obj()
    .opt('header', header(r.header))
    .opt('member', member && memberJson(member))
    .opt('members', list(r.members, memberJson))
    .toString();
}

export function statusJson(r: StatusResponse): string {
  return new Obj()
    .opt('header', header(r.header))
    .str('version', r.version)
    .int('dbSize', r.dbSize)
    .uint('leader', r.leader)
    .uint('raftIndex', r.raftIndex)
    .uint('raftTerm', r.raftTerm)
    .uint('raftAppliedIndex', r.raftAppliedIndex)
    .opt('errors', list(r.errors, goJsonString))
    .int('dbSizeInUse', r.dbSizeInUse)
    .bool('isLearner', r.isLearner)
    .toString();
}

export function hashKVJson(r: HashKVResponse): string {
  return new Obj().opt('header', header(r.header)).int('hash', r.hash >>> 0).int('compact_revision', r.compactRevision).toString();
}

export class JsonPrinter implements Printer {
  constructor(private readonly o: PrinterOptions) {}

  private print(json: string): void {
    this.o.out.out(`${json}\n`);
  }

  get(r: RangeResponse): void {
    this.print(rangeJson(r));
  }
  put(r: PutResponse): void {
    this.print(putJson(r));
  }
  del(r: DeleteRangeResponse): void {
    this.print(deleteJson(r));
  }
  txn(r: TxnResponse): void {
    this.print(txnJson(r));
  }
  watch(r: WatchResponse): void {
    this.print(watchJson(r));
  }

  /** clientv3.LeaseGrantResponse: the header's fields flattened, then ID, TTL, Error. */
  grant(r: LeaseGrantResponse): void {
    this.print(new Obj().embed(r.header && headerFields(r.header)).int('ID', r.ID, false).int('TTL', r.TTL, false).str('Error', r.error, false).toString());
  }
  revoke(_id: bigint, r: LeaseRevokeResponse): void {
    this.print(new Obj().opt('header', header(r.header)).toString());
  }
  keepAlive(r: LeaseKeepAliveResponse): void {
    this.print(new Obj().embed(r.header && headerFields(r.header)).int('ID', r.ID, false).int('TTL', r.TTL, false).toString());
  }
  timeToLive(r: LeaseTimeToLiveResponse, _keys: boolean): void {
    this.print(
      new Obj()
        .embed(r.header && headerFields(r.header))
        .int('id', r.ID, false)
        .int('ttl', r.TTL, false)
        .int('granted-ttl', r.grantedTTL, false)
        .raw('keys', r.keys.length === 0 ? 'null' : `[${r.keys.map(b64).join(',')}]`)
        .toString(),
    );
  }
  leases(r: LeaseLeasesResponse): void {
    this.print(
      new Obj()
        .embed(r.header && headerFields(r.header))
        .raw('leases', `[${r.leases.map((l) => new Obj().int('id', l.ID, false).toString()).join(',')}]`)
        .toString(),
    );
  }

  memberAdd(r: MemberAddResponse): void {
    this.print(membersJson(r, r.member));
  }
  memberRemove(_id: bigint, r: MemberRemoveResponse): void {
    this.print(membersJson(r));
  }
  memberUpdate(_id: bigint, r: MemberUpdateResponse): void {
    this.print(membersJson(r));
  }
  memberPromote(_id: bigint, r: MemberPromoteResponse): void {
    this.print(membersJson(r));
  }
  memberList(r: MemberListResponse): void {
    this.print(membersJson(r));
  }

  endpointHealth(list: EpHealth[]): void {
    this.print(`[${list.map((h) => new Obj().str('endpoint', h.ep, false).bool('health', h.health, false).str('took', h.took, false).str('error', h.error).toString()).join(',')}]`);
  }
  endpointStatus(list: EpStatus[]): void {
    this.print(`[${list.map((s) => new Obj().str('Endpoint', s.ep, false).raw('Status', statusJson(s.resp)).toString()).join(',')}]`);
  }
  endpointHashKV(list: EpHashKV[]): void {
    this.print(`[${list.map((s) => new Obj().str('Endpoint', s.ep, false).raw('HashKV', hashKVJson(s.resp)).toString()).join(',')}]`);
  }
  moveLeader(_leader: bigint, _target: bigint, r: MoveLeaderResponse): void {
    this.print(new Obj().opt('header', header(r.header)).toString());
  }
  alarm(r: AlarmResponse): void {
    this.print(
      new Obj()
        .opt('header', header(r.header))
        .opt('alarms', list(r.alarms, (a) => new Obj().uint('memberID', a.memberID).int('alarm', a.alarm).toString()))
        .toString(),
    );
  }
  dbStatus(s: DbStatus): void {
    this.print(new Obj().int('hash', s.hash >>> 0, false).int('revision', s.revision, false).int('totalKey', s.totalKey, false).int('totalSize', s.totalSize, false).toString());
  }

  /**
   * latchctl `lock status` / `elect status` (no etcdctl counterpart): numbers as numbers, lease IDs both as
   * numbers and in the `%016x` form the other commands print.
   */
  queueStatus(s: QueueStatus): void {
    const entry = (e: QueueStatus['waiters'][number]): string => {
      const o = new Obj()
        .str('key', e.key, false)
        .int('lease', e.lease, false)
        .str('lease_hex', BigInt.asUintN(64, e.lease).toString(16).padStart(16, '0'), false)
        .int('revision', e.revision, false)
        .int('ttl', e.ttl, false);
      if (e.value !== undefined) o.str('value', e.value, false);
      return o.toString();
    };
    this.print(
      new Obj()
        .str('kind', s.kind, false)
        .str('name', s.name, false)
        .int('revision', s.revision, false)
        .raw(s.kind === 'lock' ? 'holder' : 'leader', s.holder ? entry(s.holder) : 'null')
        .raw(s.kind === 'lock' ? 'waiters' : 'candidates', `[${s.waiters.map(entry).join(',')}]`)
        .toString(),
    );
  }

  auth(o: AuthOutput): void {
    authJson(o, this.o.out);
  }
}

/** The Go JSON form: `{"header":…}` plus the response's lists. */
function authJson(o: AuthOutput, io: Output): void {
  const withHeader = (h: ResponseHeader | undefined, extra: string): string => {
    const head = headerJson(h);
    return `{${[head === undefined ? '' : `"header":${head}`, extra].filter((x) => x !== '').join(',')}}`;
  };
  const strings = (name: string, items: readonly string[]): string => (items.length === 0 ? '' : `"${name}":[${items.map(goJsonString).join(',')}]`);
  let json: string;
  switch (o.kind) {
    case 'roleGet': {
      const perms = o.resp.perm.map((p) => {
        const f: string[] = [];
        if (p.permType !== 0) f.push(`"permType":${p.permType}`);
        if (p.key.length > 0) f.push(`"key":"${Buffer.from(p.key).toString('base64')}"`);
        if (p.rangeEnd.length > 0) f.push(`"range_end":"${Buffer.from(p.rangeEnd).toString('base64')}"`);
        return `{${f.join(',')}}`;
      });
      json = withHeader(o.resp.header, perms.length === 0 ? '' : `"perm":[${perms.join(',')}]`);
      break;
    }
    case 'roleList':
      json = withHeader(o.resp.header, strings('roles', o.resp.roles));
      break;
    case 'userGet':
      json = withHeader(o.resp.header, strings('roles', o.resp.roles));
      break;
    case 'userList':
      json = withHeader(o.resp.header, strings('users', o.resp.users));
      break;
    default:
      json = withHeader(o.header, '');
  }
  io.out(`${json}\n`);
}
