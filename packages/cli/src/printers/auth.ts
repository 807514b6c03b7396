/**
 * What the `user …` and `role …` commands hand to the printers. Each format renders it as etcdctl does — simple
 * sentences (`Role r1 created`, the `KV Read:` / `KV Write:` listing of `role get`), the response as Go JSON,
 * header fields, the protobuf encoding; `user get` and `user list` have no fields form in etcdctl (exit 4), and no
 * auth output has a table form.
 */
import type { AuthRoleGetResponse, AuthRoleListResponse, AuthUserGetResponse, AuthUserListResponse, ResponseHeader } from '@latchkey/proto';

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

/** Permission type names as etcd's enum prints them. */
export const PERM_NAMES: Record<number, string> = { 0: 'READ', 1: 'WRITE', 2: 'READWRITE' };
