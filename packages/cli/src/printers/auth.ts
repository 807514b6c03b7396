/**
 * Output of `user …` and `role …` in each format, as etcdctl prints it: simple sentences (`Role r1 created`,
 * the `KV Read:` / `KV Write:` listing of `role get`), the response as Go JSON, header fields, or the protobuf
 * encoding. `user get` and `user list` have no fields form in etcdctl (exit 4); no auth output has a table form.
 */
import {
  AuthRoleGetResponse,
  AuthRoleListResponse,
  AuthUserGetResponse,
  AuthUserAddResponse,
  AuthUserListResponse,
  type Permission,
  type ResponseHeader,
} from '@latchkey/proto';
import { CliError, ExitCode } from '../errors.js';
import { goJsonString, goQuote } from '../go-format.js';
import type { Output } from '../io.js';
import { ZERO_HEADER } from './printer.js';

/** One auth command's result, for the printer. */
export type AuthOutput =
  | { kind: 'roleAdd' | 'roleDelete' | 'roleGrantPermission'; role: string; header: ResponseHeader | undefined }
  | { kind: 'roleRevokePermission'; role: string; key: string; end: Uint8Array; header: ResponseHeader | undefined }
  | { kind: 'roleGet'; role: string; resp: AuthRoleGetResponse }
  | { kind: 'roleList'; resp: AuthRoleListResponse }
  | { kind: 'userAdd' | 'userDelete'; user: string; header: ResponseHeader | undefined }
  | { kind: 'userGrantRole' | 'userRevokeRole'; user: string; role: string; header: ResponseHeader | undefined }
  | { kind: 'userChangePassword'; header: ResponseHeader | undefined }
  | { kind: 'userGet'; user: string; resp: AuthUserGetResponse }
  | { kind: 'userList'; resp: AuthUserListResponse };

const PERM_NAMES: Record<number, string> = { 0: 'READ', 1: 'WRITE', 2: 'READWRITE' };

/** etcdctl's prefix end of a permission key (clientv3.GetPrefixRangeEnd). */
function prefixEnd(key: Uint8Array): Uint8Array {
  for (let i = key.length - 1; i >= 0; i--) {
    if (key[i]! < 0xff) {
      const end = Uint8Array.from(key.subarray(0, i + 1));
      end[i]! += 1;
      return end;
    }
  }
  return Uint8Array.of(0);
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** The simple form. */
export function authSimple(o: AuthOutput, io: Output): void {
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
        if (same(prefixEnd(p.key), p.rangeEnd)) parts.push(Buffer.from(' (prefix '), p.key, Buffer.from(')'));
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

function headerJson(h: ResponseHeader | undefined): string {
  if (!h) return '{}';
  const parts: string[] = [];
  if (h.clusterId !== 0n) parts.push(`"cluster_id":${BigInt.asUintN(64, h.clusterId)}`);
  if (h.memberId !== 0n) parts.push(`"member_id":${BigInt.asUintN(64, h.memberId)}`);
  if (h.revision !== 0n) parts.push(`"revision":${h.revision}`);
  if (h.raftTerm !== 0n) parts.push(`"raft_term":${BigInt.asUintN(64, h.raftTerm)}`);
  return `{"header":{${parts.join(',')}}}`;
}

/** The Go JSON form: `{"header":…}` plus the response's lists. */
export function authJson(o: AuthOutput, io: Output): void {
  const withHeader = (h: ResponseHeader | undefined, extra: string): string => {
    const head = h ? headerJson(h).slice(1, -1) : '';
    return `{${[head, extra].filter((x) => x !== '').join(',')}}`;
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

/** The fields form: the header's four fields, then the response's own. */
export function authFields(o: AuthOutput, io: Output): void {
  const hdr = (h: ResponseHeader | undefined): void => {
    const x = h ?? ZERO_HEADER;
    io.out(`"ClusterID" : ${BigInt.asUintN(64, x.clusterId)}\n"MemberID" : ${BigInt.asUintN(64, x.memberId)}\n"Revision" : ${x.revision}\n"RaftTerm" : ${BigInt.asUintN(64, x.raftTerm)}\n`);
  };
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

/** The protobuf form: the response message's encoding. */
export function authProtobuf(o: AuthOutput, io: Output): void {
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
