/**
 * `auth enable|disable`, `user add|delete|get|list|passwd|grant-role|revoke-role` and
 * `role add|delete|get|list|grant-permission|revoke-permission`, as etcdctl 3.4: the same arguments, password
 * prompts (`Password of <user>: `, then a confirmation), permission ranges (`--prefix`, `--from-key`, an end key)
 * and output. `auth enable` creates the root role and grants it to root when the server asks for that.
 */
import type { Client } from '@latchkey/client';
import { AuthService, Permission_Type, type ResponseHeader } from '@latchkey/proto';
import type { CommandSpec } from '../command.js';
import type { Context } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import type { AuthOutput } from '../printers/auth.js';
import { unary } from './common.js';
import { bytes, keyRange } from '../keys.js';

/** Reads a password as etcdctl does: typed twice after prompts (`--interactive`, default), or a word from stdin. */
async function readPassword(ctx: Context, user: string): Promise<string> {
  if (!ctx.flags.bool('interactive')) {
    // fmt.Scanf("%s"): the first whitespace-separated word of stdin.
    const line = await ctx.lines.next();
    return line.text.trim().split(/\s+/)[0] ?? '';
  }
  const ask = async (prompt: string): Promise<string> => {
    ctx.io.out(prompt);
    const l = await ctx.lines.next();
    ctx.io.out('\n');
    return l.text.replace(/\r?\n$/, '');
  };
  const first = await ask(`Password of ${user}: `);
  if (first === '') throw new CliError(ExitCode.BadArgs, 'empty password');
  const second = await ask(`Type password of ${user} again for confirmation: `);
  if (first !== second) throw new CliError(ExitCode.BadArgs, 'given passwords are different');
  return first;
}

const show = (ctx: Context, o: AuthOutput): void => ctx.printer.auth(o);

const authEnable: CommandSpec = {
  name: 'enable',
  use: 'enable',
  short: 'Enables authentication',
  async run(ctx) {
    if (ctx.args.length !== 0) throw new CliError(ExitCode.BadArgs, 'auth enable command does not accept any arguments');
    const client = await ctx.client();
    const deadline = Date.now() + ctx.commandTimeoutMs;
    const left = (): number => Math.max(1, deadline - Date.now());
    for (;;) {
      try {
        await unary(ctx, client, AuthService.AuthEnable, {}, { timeoutMs: left() });
        break;
      } catch (err) {
        if (!(err instanceof CliError) || err.message !== 'etcdserver: root user does not have root role') throw err;
        await unary(ctx, client, AuthService.RoleAdd, { name: 'root' }, { timeoutMs: left() });
        await unary(ctx, client, AuthService.UserGrantRole, { user: 'root', role: 'root' }, { timeoutMs: left() });
      }
    }
    ctx.io.out('Authentication Enabled\n');
  },
};

const authDisable: CommandSpec = {
  name: 'disable',
  use: 'disable',
  short: 'Disables authentication',
  async run(ctx) {
    if (ctx.args.length !== 0) throw new CliError(ExitCode.BadArgs, 'auth disable command does not accept any arguments');
    await unary(ctx, await ctx.client(), AuthService.AuthDisable, {});
    ctx.io.out('Authentication Disabled\n');
  },
};

export const authCommand: CommandSpec = {
  name: 'auth',
  use: 'auth <enable or disable>',
  short: 'Enable or disable authentication',
  subcommands: [authEnable, authDisable],
};

const interactiveFlag = { name: 'interactive', type: 'bool', default: 'true', usage: 'Read password from stdin instead of interactive terminal' } as const;

const userAdd: CommandSpec = {
  name: 'add',
  use: 'add <user name or user:password> [options]',
  short: 'Adds a new user',
  flags: [
    interactiveFlag,
    { name: 'new-user-password', type: 'string', default: '', usage: 'Supply password from the command line flag' },
    { name: 'no-password', type: 'bool', default: 'false', usage: 'Create a user without password (CN based auth only)' },
  ],
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'user add command requires user name as its argument');
    const arg = ctx.args[0]!;
    let user = arg;
    let password = '';
    const noPassword = ctx.flags.bool('no-password');
    if (!noPassword) {
      const fromFlag = ctx.flags.string('new-user-password');
      if (fromFlag !== '') password = fromFlag;
      else {
        const i = arg.indexOf(':');
        if (i < 0) password = await readPassword(ctx, arg);
        else {
          user = arg.slice(0, i);
          password = arg.slice(i + 1);
          if (user === '') throw new CliError(ExitCode.BadArgs, 'empty user name is not allowed');
        }
      }
    }
    const resp = await unary(ctx, await ctx.client(), AuthService.UserAdd, { name: user, password, options: { noPassword } });
    show(ctx, { kind: 'userAdd', user, header: resp.header });
  },
};

/** A user or role command with fixed arguments whose answer is a header (delete, grant-role, …). */
function simpleCall(
  name: string,
  use: string,
  short: string,
  argc: number,
  usage: string,
  call: (client: Client, ctx: Context, args: string[]) => Promise<{ header?: ResponseHeader }>,
  output: (args: string[], header: ResponseHeader | undefined) => AuthOutput,
): CommandSpec {
  return {
    name,
    use,
    short,
    async run(ctx) {
      if (ctx.args.length !== argc) throw new CliError(ExitCode.BadArgs, usage);
      const resp = await call(await ctx.client(), ctx, ctx.args);
      show(ctx, output(ctx.args, resp.header));
    },
  };
}

const userDelete = simpleCall(
  'delete',
  'delete <user name>',
  'Deletes a user',
  1,
  'user delete command requires user name as its argument',
  (c, ctx, [u]) => unary(ctx, c, AuthService.UserDelete, { name: u! }),
  ([u], header) => ({ kind: 'userDelete', user: u!, header }),
);

const userGrantRole = simpleCall(
  'grant-role',
  'grant-role <user name> <role name>',
  'Grants a role to a user',
  2,
  'user grant command requires user name and role name as its argument',
  (c, ctx, [u, r]) => unary(ctx, c, AuthService.UserGrantRole, { user: u!, role: r! }),
  ([u, r], header) => ({ kind: 'userGrantRole', user: u!, role: r!, header }),
);

const userRevokeRole = simpleCall(
  'revoke-role',
  'revoke-role <user name> <role name>',
  'Revokes a role from a user',
  2,
  'user revoke-role requires user name and role name as its argument',
  (c, ctx, [u, r]) => unary(ctx, c, AuthService.UserRevokeRole, { name: u!, role: r! }),
  ([u, r], header) => ({ kind: 'userRevokeRole', user: u!, role: r!, header }),
);

const userGet: CommandSpec = {
  name: 'get',
  use: 'get <user name> [options]',
  short: 'Gets detailed information of a user',
  flags: [{ name: 'detail', type: 'bool', default: 'false', usage: 'Show permissions of roles granted to the user' }],
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'user get command requires user name as its argument');
    const user = ctx.args[0]!;
    const client = await ctx.client();
    const resp = await unary(ctx, client, AuthService.UserGet, { name: user }, { idempotent: true });
    if (!ctx.flags.bool('detail')) return show(ctx, { kind: 'userGet', user, resp });
    ctx.io.out(`User: ${user}\n`);
    for (const role of resp.roles) {
      ctx.io.out('\n');
      const r = await unary(ctx, client, AuthService.RoleGet, { role }, { idempotent: true });
      show(ctx, { kind: 'roleGet', role, resp: r });
    }
  },
};

const userList: CommandSpec = {
  name: 'list',
  use: 'list',
  short: 'Lists all users',
  async run(ctx) {
    if (ctx.args.length !== 0) throw new CliError(ExitCode.BadArgs, 'user list command requires no arguments');
    const resp = await unary(ctx, await ctx.client(), AuthService.UserList, {}, { idempotent: true });
    show(ctx, { kind: 'userList', resp });
  },
};

const userPasswd: CommandSpec = {
  name: 'passwd',
  use: 'passwd <user name> [options]',
  short: 'Changes password of user',
  flags: [{ ...interactiveFlag, usage: 'If true, read password from stdin instead of interactive terminal' }],
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'user passwd command requires user name as its argument');
    const user = ctx.args[0]!;
    const password = await readPassword(ctx, user);
    const resp = await unary(ctx, await ctx.client(), AuthService.UserChangePassword, { name: user, password });
    show(ctx, { kind: 'userChangePassword', header: resp.header });
  },
};

export const userCommand: CommandSpec = {
  name: 'user',
  use: 'user <subcommand>',
  short: 'User related commands',
  subcommands: [userAdd, userDelete, userGet, userList, userPasswd, userGrantRole, userRevokeRole],
};

const roleAdd = simpleCall(
  'add',
  'add <role name>',
  'Adds a new role',
  1,
  'role add command requires role name as its argument',
  (c, ctx, [r]) => unary(ctx, c, AuthService.RoleAdd, { name: r! }),
  ([r], header) => ({ kind: 'roleAdd', role: r!, header }),
);

const roleDelete = simpleCall(
  'delete',
  'delete <role name>',
  'Deletes a role',
  1,
  'role delete command requires role name as its argument',
  (c, ctx, [r]) => unary(ctx, c, AuthService.RoleDelete, { role: r! }),
  ([r], header) => ({ kind: 'roleDelete', role: r!, header }),
);

const roleGet: CommandSpec = {
  name: 'get',
  use: 'get <role name>',
  short: 'Gets detailed information of a role',
  async run(ctx) {
    if (ctx.args.length !== 1) throw new CliError(ExitCode.BadArgs, 'role get command requires role name as its argument');
    const role = ctx.args[0]!;
    const resp = await unary(ctx, await ctx.client(), AuthService.RoleGet, { role }, { idempotent: true });
    show(ctx, { kind: 'roleGet', role, resp });
  },
};

const roleList: CommandSpec = {
  name: 'list',
  use: 'list',
  short: 'Lists all roles',
  async run(ctx) {
    if (ctx.args.length !== 0) throw new CliError(ExitCode.BadArgs, 'role list command requires no arguments');
    const resp = await unary(ctx, await ctx.client(), AuthService.RoleList, {}, { idempotent: true });
    show(ctx, { kind: 'roleList', resp });
  },
};

const PERM_FLAGS = (verb: string) =>
  [
    { name: 'prefix', type: 'bool', default: 'false', usage: `${verb} a prefix permission` },
    { name: 'from-key', type: 'bool', default: 'false', usage: `${verb} a permission of keys that are greater than or equal to the given key using byte compare` },
  ] as const;

/** etcdctl's permRange: the key and range end a permission covers. */
function permRange(ctx: Context, args: readonly string[]): { key: Uint8Array; rangeEnd: Uint8Array } {
  const prefix = ctx.flags.bool('prefix');
  const fromKey = ctx.flags.bool('from-key');
  const key = args[0]!;
  if (key === '') {
    if (prefix && fromKey) throw new CliError(ExitCode.BadArgs, '--from-key and --prefix flags are mutually exclusive');
    // The empty key means every key: ["\0", "\0") for a prefix or from-key permission.
    return { key: Uint8Array.of(0), rangeEnd: prefix || fromKey ? Uint8Array.of(0) : new Uint8Array(0) };
  }
  if (args.length === 1) {
    if (prefix && fromKey) throw new CliError(ExitCode.BadArgs, '--from-key and --prefix flags are mutually exclusive');
    return keyRange(key, undefined, { prefix, fromKey });
  }
  if (prefix) throw new CliError(ExitCode.BadArgs, 'unexpected endkey argument with --prefix flag');
  if (fromKey) throw new CliError(ExitCode.BadArgs, 'unexpected endkey argument with --from-key flag');
  return { key: bytes(key), rangeEnd: bytes(args[1]!) };
}

const PERM_TYPES: Record<string, Permission_Type> = { READ: Permission_Type.READ, WRITE: Permission_Type.WRITE, READWRITE: Permission_Type.READWRITE };

const roleGrantPermission: CommandSpec = {
  name: 'grant-permission',
  use: 'grant-permission [options] <role name> <permission type> <key> [endkey]',
  short: 'Grants a key to a role',
  flags: [...PERM_FLAGS('grant')],
  async run(ctx) {
    if (ctx.args.length < 3) throw new CliError(ExitCode.BadArgs, 'role grant command requires role name, permission type, and key [endkey] as its argument');
    const permType = PERM_TYPES[ctx.args[1]!.toUpperCase()];
    if (permType === undefined) throw new CliError(ExitCode.BadArgs, `invalid permission type: ${ctx.args[1]}`);
    const { key, rangeEnd } = permRange(ctx, ctx.args.slice(2));
    const role = ctx.args[0]!;
    const resp = await unary(ctx, await ctx.client(), AuthService.RoleGrantPermission, { name: role, perm: { permType, key, rangeEnd } });
    show(ctx, { kind: 'roleGrantPermission', role, header: resp.header });
  },
};

const roleRevokePermission: CommandSpec = {
  name: 'revoke-permission',
  use: 'revoke-permission <role name> <key> [endkey]',
  short: 'Revokes a key from a role',
  flags: [...PERM_FLAGS('revoke')],
  async run(ctx) {
    if (ctx.args.length < 2) throw new CliError(ExitCode.BadArgs, 'role revoke-permission command requires role name and key [endkey] as its argument');
    const { key, rangeEnd } = permRange(ctx, ctx.args.slice(1));
    const role = ctx.args[0]!;
    const resp = await unary(ctx, await ctx.client(), AuthService.RoleRevokePermission, { role, key, rangeEnd });
    show(ctx, { kind: 'roleRevokePermission', role, key: ctx.args[1]!, end: rangeEnd, header: resp.header });
  },
};

export const roleCommand: CommandSpec = {
  name: 'role',
  use: 'role <subcommand>',
  short: 'Role related commands',
  subcommands: [roleAdd, roleDelete, roleGet, roleList, roleGrantPermission, roleRevokePermission],
};
