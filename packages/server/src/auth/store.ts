import { Permission, Permission_Type as PermType, Role, User, type EtcdErrorName } from '@latchkey/proto';
import { type Backend, Table } from '../backend/backend.js';
import { keyString } from '../mvcc/keys.js';

/** An auth failure, named after the etcd error it becomes on the wire (api/errors.ts maps it). */
export class AuthError extends Error {
  readonly retryable = false;
  constructor(readonly etcd: EtcdErrorName) {
    super(`auth: ${etcd}`);
    this.name = 'AuthError';
  }
}

export const ROOT = 'root';

/** A permitted key interval in binary strings; `end` undefined = every key from `start` on. */
interface Interval {
  start: string;
  end: string | undefined;
}

const K_ENABLED = Buffer.from('enabled');
const K_REVISION = Buffer.from('revision');
const USER = 'user/';
const ROLE = 'role/';

/**
 * The replicated auth state (etcd's auth store): whether auth is on, users (with password hashes computed by the
 * proposing member — never by the applier), roles with key permissions, and the auth revision that increases on
 * every change so requests checked against an older state can be refused.
 *
 * Mutations run only while applying the log, inside a backend batch, and are deterministic. Reads (permission
 * checks) may run anywhere. Permission rules, as etcd's:
 * - a user holding the `root` role may do anything; auth management requires it;
 * - otherwise a request on [key, end) is allowed when the union of the user's READ (or WRITE) permissions covers
 *   the whole range; READWRITE counts for both. A permission range end of "\0" means "every key from key on".
 */
export class AuthStore {
  private enabledFlag = false;
  private rev = 0n;
  private users = new Map<string, User>();
  private roles = new Map<string, Role>();
  /** Cached merged intervals per user and access kind; cleared on every change. */
  private cache = new Map<string, Interval[]>();

  constructor(private readonly backend: Backend) {
    this.enabledFlag = backend.get(Table.Auth, K_ENABLED)?.[0] === 1;
    this.rev = backend.get(Table.Auth, K_REVISION)?.readBigUInt64BE(0) ?? 0n;
    backend.scan(Table.Auth, Buffer.from(USER), Buffer.from('user0'), (_k, v) => {
      const u = User.decode(v);
      this.users.set(Buffer.from(u.name).toString(), u);
    });
    backend.scan(Table.Auth, Buffer.from(ROLE), Buffer.from('role0'), (_k, v) => {
      const r = Role.decode(v);
      this.roles.set(Buffer.from(r.name).toString(), r);
    });
  }

  get enabled(): boolean {
    return this.enabledFlag;
  }

  get revision(): bigint {
    return this.rev;
  }

  // ------------------------------------------------------------------------------ reads

  user(name: string): User | undefined {
    return this.users.get(name);
  }

  userNames(): string[] {
    return [...this.users.keys()].sort();
  }

  role(name: string): Role | undefined {
    return this.roles.get(name);
  }

  roleNames(): string[] {
    return [...this.roles.keys()].sort();
  }

  isAdmin(user: string): boolean {
    return this.users.get(user)?.roles.includes(ROOT) ?? false;
  }

  /**
   * Whether `user` may read (or write) every key in [key, end) — `end` empty: the single key; "\0": every key
   * from `key` on.
   */
  isPermitted(user: string, key: Uint8Array, end: Uint8Array, write: boolean): boolean {
    if (this.isAdmin(user)) return true;
    const u = this.users.get(user);
    if (!u) return false;
    const cacheKey = `${write ? 'w' : 'r'}:${user}`;
    let allowed = this.cache.get(cacheKey);
    if (!allowed) {
      allowed = mergeIntervals(
        u.roles
          .map((r) => this.roles.get(r))
          .flatMap((r) => r?.keyPermission ?? [])
          .filter((p) => p.permType === PermType.READWRITE || p.permType === (write ? PermType.WRITE : PermType.READ))
          .map((p) => toInterval(p.key, p.rangeEnd)),
      );
      this.cache.set(cacheKey, allowed);
    }
    const want = toInterval(key, end);
    return allowed.some((iv) => iv.start <= want.start && (iv.end === undefined || (want.end !== undefined && want.end <= iv.end)));
  }

  // ------------------------------------------------------------------------------ mutations (apply path)

  enable(): void {
    if (this.enabledFlag) return;
    const root = this.users.get(ROOT);
    if (!root) throw new AuthError('RootUserNotExist');
    if (!root.roles.includes(ROOT)) throw new AuthError('RootRoleNotExist');
    this.enabledFlag = true;
    this.backend.put(Table.Auth, K_ENABLED, Buffer.of(1));
    this.bump();
  }

  disable(): void {
    if (!this.enabledFlag) return;
    this.enabledFlag = false;
    this.backend.put(Table.Auth, K_ENABLED, Buffer.of(0));
    this.bump();
  }

  userAdd(name: string, hashedPassword: string, noPassword: boolean): void {
    if (name === '') throw new AuthError('UserEmpty');
    if (this.users.has(name)) throw new AuthError('UserAlreadyExist');
    this.putUser({ name: Buffer.from(name), password: Buffer.from(noPassword ? '' : hashedPassword), roles: [], options: { noPassword } });
  }

  userDelete(name: string): void {
    if (this.enabledFlag && name === ROOT) throw new AuthError('InvalidAuthMgmt');
    if (!this.users.delete(name)) throw new AuthError('UserNotFound');
    this.backend.del(Table.Auth, Buffer.from(USER + name));
    this.bump();
  }

  userChangePassword(name: string, hashedPassword: string): void {
    const u = this.users.get(name);
    if (!u) throw new AuthError('UserNotFound');
    this.putUser({ ...u, password: Buffer.from(hashedPassword) });
  }

  userGrantRole(name: string, role: string): void {
    const u = this.users.get(name);
    if (!u) throw new AuthError('UserNotFound');
    if (role !== ROOT && !this.roles.has(role)) throw new AuthError('RoleNotFound');
    if (u.roles.includes(role)) return;
    this.putUser({ ...u, roles: [...u.roles, role].sort() });
  }

  userRevokeRole(name: string, role: string): void {
    if (this.enabledFlag && name === ROOT && role === ROOT) throw new AuthError('InvalidAuthMgmt');
    const u = this.users.get(name);
    if (!u) throw new AuthError('UserNotFound');
    if (!u.roles.includes(role)) throw new AuthError('RoleNotGranted');
    this.putUser({ ...u, roles: u.roles.filter((r) => r !== role) });
  }

  roleAdd(name: string): void {
    if (name === '') throw new AuthError('RoleEmpty');
    if (this.roles.has(name)) throw new AuthError('RoleAlreadyExist');
    this.putRole({ name: Buffer.from(name), keyPermission: [] });
  }

  roleDelete(name: string): void {
    if (this.enabledFlag && name === ROOT) throw new AuthError('InvalidAuthMgmt');
    if (!this.roles.delete(name)) throw new AuthError('RoleNotFound');
    this.backend.del(Table.Auth, Buffer.from(ROLE + name));
    // Users lose the role with it.
    for (const u of this.users.values()) {
      if (u.roles.includes(name)) this.putUser({ ...u, roles: u.roles.filter((r) => r !== name) }, false);
    }
    this.bump();
  }

  roleGrantPermission(name: string, perm: Permission): void {
    const r = this.roles.get(name);
    if (!r) throw new AuthError('RoleNotFound');
    // Granting the same range again replaces its type (etcd keeps one permission per key range).
    const rest = r.keyPermission.filter((p) => !(Buffer.compare(p.key, perm.key) === 0 && Buffer.compare(p.rangeEnd, perm.rangeEnd) === 0));
    const keyPermission = [...rest, { permType: perm.permType, key: Buffer.from(perm.key), rangeEnd: Buffer.from(perm.rangeEnd) }].sort((a, b) =>
      Buffer.compare(a.key, b.key),
    );
    this.putRole({ ...r, keyPermission });
  }

  roleRevokePermission(name: string, key: Uint8Array, rangeEnd: Uint8Array): void {
    const r = this.roles.get(name);
    if (!r) throw new AuthError('RoleNotFound');
    const keep = r.keyPermission.filter((p) => !(Buffer.compare(p.key, key) === 0 && Buffer.compare(p.rangeEnd, rangeEnd) === 0));
    if (keep.length === r.keyPermission.length) throw new AuthError('PermissionNotGranted');
    this.putRole({ ...r, keyPermission: keep });
  }

  private putUser(u: User, bump = true): void {
    const name = Buffer.from(u.name).toString();
    this.users.set(name, u);
    this.backend.put(Table.Auth, Buffer.from(USER + name), User.encode(u));
    if (bump) this.bump();
  }

  private putRole(r: Role): void {
    const name = Buffer.from(r.name).toString();
    this.roles.set(name, r);
    this.backend.put(Table.Auth, Buffer.from(ROLE + name), Role.encode(r));
    this.bump();
  }

  private bump(): void {
    this.rev += 1n;
    this.cache.clear();
    const v = Buffer.allocUnsafe(8);
    v.writeBigUInt64BE(this.rev);
    this.backend.put(Table.Auth, K_REVISION, v);
  }
}

function toInterval(key: Uint8Array, end: Uint8Array): Interval {
  const start = keyString(key);
  if (end.length === 0) return { start, end: `${start}\u0000` };
  if (end.length === 1 && end[0] === 0) return { start, end: undefined };
  return { start, end: keyString(end) };
}

/** Sorts and merges overlapping or touching intervals. */
function mergeIntervals(list: Interval[]): Interval[] {
  const sorted = list.filter((iv) => iv.end === undefined || iv.start < iv.end).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Interval[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last && (last.end === undefined || iv.start <= last.end)) {
      if (last.end !== undefined && (iv.end === undefined || iv.end > last.end)) last.end = iv.end;
    } else {
      out.push({ ...iv });
    }
  }
  return out;
}
