import { AuthService } from '@latchkey/proto';
import type { EtcdServer } from '../../node/etcd-server.js';
import { AuthError } from '../../auth/store.js';
import { header } from '../header.js';
import type { ServiceImpl } from './h2-server.js';

/**
 * etcd's Auth service. Changes are proposed through the log (and authorized again when applied); the proposing
 * member hashes passwords and mints tokens so that applying stays deterministic. Reads of the auth state need
 * root, except that a user may read their own entry.
 */
export function authService(s: EtcdServer): ServiceImpl<typeof AuthService> {
  const store = s.auth.store;
  const admin = (md: Parameters<typeof s.auth.identify>[0]) => {
    const ai = s.auth.identify(md);
    s.auth.requireAdmin(ai);
    return ai;
  };
  const change = async (req: Parameters<typeof s.propose>[0], ai: ReturnType<typeof admin>) => {
    await s.propose(req, ai);
    return { header: header(s) };
  };
  return {
    async AuthEnable(_req, ctx) {
      // Anyone may enable auth while it is off; once on, enabling again needs root (etcd: user name is empty).
      return change({ authEnable: {} }, admin(ctx.metadata));
    },
    async AuthDisable(_req, ctx) {
      return change({ authDisable: {} }, admin(ctx.metadata));
    },
    async AuthStatus() {
      return { header: header(s), enabled: store.enabled, authRevision: store.revision };
    },
    async Authenticate(req) {
      // As etcd's CheckPassword: with authentication off there is nothing to log in to.
      if (!store.enabled) throw new AuthError('AuthNotEnabled');
      const u = store.user(req.name);
      const hash = u ? Buffer.from(u.password).toString() : '';
      if (!u || u.options?.noPassword || !(await s.auth.passwords.verify(req.password, hash))) throw new AuthError('AuthFailed');
      const token = s.auth.tokens.mint(req.name, store.revision);
      await s.propose({ authenticate: { name: req.name, simpleToken: token } });
      return { header: header(s), token };
    },
    async UserAdd(req, ctx) {
      const ai = admin(ctx.metadata);
      const noPassword = req.options?.noPassword ?? false;
      const hashedPassword = noPassword ? '' : await s.auth.passwords.hash(req.password);
      return change({ authUserAdd: { name: req.name, hashedPassword, options: { noPassword } } }, ai);
    },
    async UserGet(req, ctx) {
      const ai = s.auth.identify(ctx.metadata);
      if (ai && ai.user !== req.name) s.auth.requireAdmin(ai);
      const u = store.user(req.name);
      if (!u) throw new AuthError('UserNotFound');
      return { header: header(s), roles: u.roles };
    },
    async UserList(_req, ctx) {
      admin(ctx.metadata);
      return { header: header(s), users: store.userNames() };
    },
    async UserDelete(req, ctx) {
      return change({ authUserDelete: { name: req.name } }, admin(ctx.metadata));
    },
    async UserChangePassword(req, ctx) {
      const ai = admin(ctx.metadata);
      return change({ authUserChangePassword: { name: req.name, hashedPassword: await s.auth.passwords.hash(req.password) } }, ai);
    },
    async UserGrantRole(req, ctx) {
      return change({ authUserGrantRole: { user: req.user, role: req.role } }, admin(ctx.metadata));
    },
    async UserRevokeRole(req, ctx) {
      return change({ authUserRevokeRole: { name: req.name, role: req.role } }, admin(ctx.metadata));
    },
    async RoleAdd(req, ctx) {
      return change({ authRoleAdd: { name: req.name } }, admin(ctx.metadata));
    },
    async RoleGet(req, ctx) {
      const ai = s.auth.identify(ctx.metadata);
      if (ai && !store.user(ai.user)?.roles.includes(req.role)) s.auth.requireAdmin(ai);
      const r = store.role(req.role);
      if (!r) throw new AuthError('RoleNotFound');
      return { header: header(s), perm: r.keyPermission };
    },
    async RoleList(_req, ctx) {
      admin(ctx.metadata);
      return { header: header(s), roles: store.roleNames() };
    },
    async RoleDelete(req, ctx) {
      return change({ authRoleDelete: { role: req.role } }, admin(ctx.metadata));
    },
    async RoleGrantPermission(req, ctx) {
      if (!req.perm) throw new AuthError('PermissionNotGiven');
      return change({ authRoleGrantPermission: { name: req.name, perm: req.perm } }, admin(ctx.metadata));
    },
    async RoleRevokePermission(req, ctx) {
      return change({ authRoleRevokePermission: { role: req.role, key: req.key, rangeEnd: req.rangeEnd } }, admin(ctx.metadata));
    },
  };
}
