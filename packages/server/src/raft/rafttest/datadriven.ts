/**
 * A small "datadriven" script format for transcript tests (after cockroachdb/datadriven, as etcd-io/raft uses it;
 * this is our own, simpler format):
 *
 * ```
 * # A comment, ignored (only between test cases).
 * campaign 1
 * ----
 * INFO 1 is starting a new election at term 0
 * ...expected output; it ends at the first blank line...
 *
 * next-command arg key=value key=(1,2)
 * ----
 * ok
 * ```
 *
 * A test case is one command line, a `----` line, and the expected output (never empty: commands print `ok` when
 * they have nothing to say; never containing blank lines). `formatScript` writes cases back in the same layout,
 * which is how `UPDATE=1` rewrites a file from actual output.
 */

export interface TestCase {
  /** 1-based line of the command, for error messages. */
  line: number;
  /** Comment lines that precede the case, kept when rewriting. */
  comments: string[];
  command: string;
  expected: string;
}

/** A command argument: `value`, `key=value` or `key=(v1,v2)`. */
export interface CommandArg {
  key: string;
  values: string[];
}

export interface ParsedCommand {
  name: string;
  args: CommandArg[];
}

/** Parses a script into test cases. Throws on a malformed file. */
export function parseScript(text: string, file = '<script>'): { cases: TestCase[]; trailingComments: string[] } {
  const lines = text.split('\n');
  const cases: TestCase[] = [];
  let comments: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const raw = lines[i]!;
    const line = raw.trimEnd();
    if (line === '') {
      i++;
      continue;
    }
    if (line.startsWith('#')) {
      comments.push(line);
      i++;
      continue;
    }
    const start = i + 1;
    const command = line;
    i++;
    if (lines[i]?.trimEnd() !== '----') throw new Error(`${file}:${start}: expected '----' after command '${command}'`);
    i++;
    const out: string[] = [];
    while (i < lines.length && lines[i]!.trimEnd() !== '') {
      out.push(lines[i]!.trimEnd());
      i++;
    }
    cases.push({ line: start, comments, command, expected: out.join('\n') });
    comments = [];
  }
  return { cases, trailingComments: comments };
}

/** Writes cases back, with `actual[i]` as the output of case i. */
export function formatScript(cases: readonly TestCase[], actual: readonly string[], trailingComments: readonly string[] = []): string {
  const parts: string[] = [];
  cases.forEach((c, i) => {
    const block = [...c.comments, c.command, '----', actual[i] ?? c.expected].join('\n');
    parts.push(block);
  });
  if (trailingComments.length > 0) parts.push(trailingComments.join('\n'));
  return parts.join('\n\n') + '\n';
}

/** Splits `name a b key=v key=(x,y)` into a name and arguments. */
export function parseCommand(line: string): ParsedCommand {
  const tokens: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of line) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (/\s/.test(ch) && depth === 0) {
      if (cur !== '') tokens.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur !== '') tokens.push(cur);
  const [name, ...rest] = tokens;
  if (name === undefined) throw new Error('empty command');
  const args = rest.map((t): CommandArg => {
    const eq = t.indexOf('=');
    if (eq < 0) return { key: t, values: [] };
    const key = t.slice(0, eq);
    let v = t.slice(eq + 1);
    if (v.startsWith('(') && v.endsWith(')')) {
      v = v.slice(1, -1);
      return { key, values: v === '' ? [] : v.split(/[,\s]+/).filter((x) => x !== '') };
    }
    return { key, values: [v] };
  });
  return { name, args };
}
