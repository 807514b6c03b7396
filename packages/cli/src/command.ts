/**
 * Commands and how a command line selects one, with cobra's rules as etcdctl has them:
 *
 *  - the command path is found by skipping flags (a `--flag` or `-f` that takes a value also skips the next
 *    word, even when the flag is unknown — cobra's stripFlags) and matching words to subcommand names, a unique
 *    prefix being enough (`mem li` = `member list`);
 *  - the remaining words are parsed with the flags of the command and every persistent flag of its ancestors;
 *  - a group without a run function prints its help; at the root an unmatched word is `unknown command`.
 */
import { FlagSet, type FlagSpec } from './flags.js';

export interface CommandSpec {
  name: string;
  /** Usage line after the binary name: `get [options] <key> [range_end]`. */
  use: string;
  short: string;
  long?: string;
  /** Flags of this command only. */
  flags?: FlagSpec[];
  /** Flags of this command and all its subcommands (`endpoint --cluster`, the root's global flags). */
  persistentFlags?: FlagSpec[];
  subcommands?: CommandSpec[];
  /** Runs the command; throw a CliError to fail. Groups have none. */
  run?: (ctx: import('./context.js').Context) => Promise<void>;
}

/** The command a command line selects, and the words left for its flags and arguments. */
export interface Found {
  /** Root first, the selected command last. */
  path: CommandSpec[];
  rest: string[];
}

/** Every flag `cmd` accepts (its own, then persistent ones from itself up to the root). */
export function flagsOf(path: readonly CommandSpec[]): FlagSpec[] {
  const cmd = path[path.length - 1]!;
  const all = [...(cmd.flags ?? [])];
  for (let i = path.length - 1; i >= 0; i--) all.push(...(path[i]!.persistentFlags ?? []));
  return all;
}

/**
 * Persistent flags inherited from the ancestors (cobra's InheritedFlags): the global flags, and a group's own
 * (`endpoint --cluster`). These are the ones environment variables may set.
 */
export function inheritedFlags(path: readonly CommandSpec[]): FlagSpec[] {
  const all: FlagSpec[] = [];
  for (let i = path.length - 2; i >= 0; i--) all.push(...(path[i]!.persistentFlags ?? []));
  return all;
}

/** The subcommand of `cmd` named `word`: an exact name, else the only one whose name starts with `word`. */
export function findChild(cmd: CommandSpec, word: string): CommandSpec | undefined {
  const children = cmd.subcommands ?? [];
  const exact = children.find((c) => c.name === word);
  if (exact) return exact;
  const matches = children.filter((c) => c.name.startsWith(word));
  return matches.length === 1 ? matches[0] : undefined;
}

/** The first word of `args` that is not a flag or a flag's value, given the flags known at `path`. */
export function firstCommandWord(args: readonly string[], flags: FlagSet): string | undefined {
  let i = 0;
  while (i < args.length) {
    const s = args[i]!;
    i++;
    if (s === '--') return undefined;
    if (s.startsWith('--') && !s.includes('=')) {
      // `--flag value`: skip the value unless the flag is a known bool.
      const spec = flags.spec(s.slice(2));
      if (spec?.type === 'bool') continue;
      if (args.length - i <= 0) return undefined;
      i++;
      continue;
    }
    if (s.startsWith('-') && !s.includes('=') && s.length === 2) {
      if (!flags.takesValue(s.slice(1), true) && flags.specs.some((f) => f.short === s.slice(1))) continue;
      if (args.length - i <= 0) return undefined;
      i++;
      continue;
    }
    if (s !== '' && !s.startsWith('-')) return s;
  }
  return undefined;
}

/** Resolves the command path of `argv` from `root` (cobra's Find). */
export function findCommand(root: CommandSpec, argv: readonly string[]): Found {
  const path: CommandSpec[] = [root];
  let rest = [...argv];
  for (;;) {
    const cmd = path[path.length - 1]!;
    if (!cmd.subcommands || cmd.subcommands.length === 0) break;
    const word = firstCommandWord(rest, new FlagSet(flagsOf(path)));
    if (word === undefined) break;
    const child = findChild(cmd, word);
    if (!child) break;
    path.push(child);
    const at = rest.indexOf(word);
    rest = [...rest.slice(0, at), ...rest.slice(at + 1)];
  }
  return { path, rest };
}

/** The full name of a command (`lease grant`). */
export function commandName(path: readonly CommandSpec[]): string {
  return path
    .slice(1)
    .map((c) => c.name)
    .join(' ');
}

/** Help text in etcdctl's layout (NAME, USAGE, COMMANDS, DESCRIPTION, OPTIONS, GLOBAL OPTIONS). */
export function helpText(path: readonly CommandSpec[], binary: string, version: string): string {
  const cmd = path[path.length - 1]!;
  const isRoot = path.length === 1;
  const lines: string[] = [];
  lines.push('NAME:');
  lines.push(isRoot ? `\t${binary} - ${cmd.short}` : `\t${commandName(path)} - ${cmd.short}`);
  lines.push('');
  lines.push('USAGE:');
  lines.push(`\t${binary} ${isRoot ? '[global options] <command> [arguments]' : `${path.slice(1, -1).map((c) => `${c.name} `).join('')}${cmd.use}`}`);
  lines.push('');
  if (isRoot) {
    lines.push('VERSION:', `\t${version}`, '', 'API VERSION:', '\t3.4', '');
  }
  if (cmd.subcommands?.length) {
    lines.push('COMMANDS:');
    const rows: [string, string][] = [];
    const walk = (c: CommandSpec, prefix: string): void => {
      // Listed in name order, as cobra sorts them.
      for (const s of [...(c.subcommands ?? [])].sort((a, b) => a.name.localeCompare(b.name))) {
        const name = `${prefix}${s.name}`;
        if (s.run) rows.push([name, s.short]);
        walk(s, `${name} `);
      }
    };
    walk(cmd, '');
    const w = Math.max(...rows.map((r) => r[0].length));
    for (const [n, s] of rows) lines.push(`\t${n.padEnd(w)}  ${s}`);
    lines.push('');
  }
  if (cmd.long) {
    lines.push('DESCRIPTION:');
    for (const l of cmd.long.trim().split('\n')) lines.push(`\t${l}`);
    lines.push('');
  }
  const local = [...(cmd.flags ?? []), ...(cmd.persistentFlags ?? [])].filter((f) => !f.hidden);
  if (local.length > 0) {
    lines.push('OPTIONS:', ...flagUsages(local), '');
  }
  const inherited = inheritedFlags(path).filter((f) => !f.hidden);
  if (inherited.length > 0) {
    lines.push('GLOBAL OPTIONS:', ...flagUsages(inherited), '');
  }
  return `${lines.join('\n')}\n`;
}

function flagUsages(flags: readonly FlagSpec[]): string[] {
  const sorted = [...flags].sort((a, b) => a.name.localeCompare(b.name));
  const left = sorted.map((f) => {
    const name = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
    if (f.type === 'bool') return `${name}[=${f.default}]`;
    if (f.type === 'string') return `${name}=${JSON.stringify(f.default)}`;
    return `${name}=${f.default}`;
  });
  const w = Math.max(...left.map((l) => l.length));
  return sorted.map((f, i) => `${left[i]!.padEnd(w)}  ${f.usage}`);
}
