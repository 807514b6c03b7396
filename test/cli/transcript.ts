/**
 * Transcripts: the same command script run through etcdctl and through latchctl, compared step by step —
 * exit code, stdout and stderr — after masking what legitimately differs.
 *
 * Each tool gets its own fresh member of the same kind (two latchkey members, or two etcd members), started with
 * the same flags, so that the script meets identical state on both sides: same revisions, same values, same
 * compaction points. What differs between the two members — member/cluster IDs, lease IDs, raft term and index,
 * durations, ports, temp paths — is masked by value (the harness's masks), and the program's own name and
 * version are normalised. Everything else must be equal.
 *
 * Two documented presentation differences are normalised when a step says so (`flagError`): on a command line
 * that cobra rejects (unknown flag or command, bad flag value), etcdctl prints the command's usage on stdout and
 * the error twice on stderr; latchctl prints the one error line. Such steps compare the exit code and that line,
 * and check that latchctl printed nothing else.
 *
 * ```ts
 * const t = await Transcript.start(members);
 * await t.run(['put', 'foo', 'bar']);
 * await t.run(['lease', 'grant', '10']);
 * await t.run((tool) => ['put', 'k', 'v', `--lease=${t.lease(tool, 0)}`]);
 * await t.run(['get', '--bogus'], { code: 1, flagError: true });
 * ```
 * Differences are soft assertions: one run lists all of them (Expected = etcdctl, Received = latchctl).
 */
import { afterAll, expect } from 'vitest';
import { cleanStderr, identify, maskRemainingTtl, maskServerOutput, type ServerIdentity, sortUnorderedLists } from '../harness/etcdctl.js';
import type { Member, MemberKind } from '../harness/processes.js';
import type { MemberSet } from '../harness/vitest.js';
import { runInProcess, runTool, startTool, type Tool, type ToolOptions, type ToolProcess, type ToolResult } from './tools.js';

/**
 * One-shot steps run latchctl in-process (`run()`, what the binary's main calls) unless TRANSCRIPT_BINARY=1,
 * which spawns the binary for every step; dialogs (long-running and interactive commands) always spawn it.
 */
const inProcess = process.env['TRANSCRIPT_BINARY'] !== '1';
const oneShot = (tool: Tool, endpoint: string, args: readonly string[], options: ToolOptions): Promise<ToolResult> =>
  tool === 'latchctl' && inProcess ? runInProcess(endpoint, args, options) : runTool(tool, endpoint, args, options);

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

export interface StepOptions {
  stdin?: string;
  /** Exit code etcdctl must give (default 0): guards the script itself. */
  code?: number;
  note?: string;
  /** A command line cobra rejects: compare the exit code and the first error line only (see the module doc). */
  flagError?: boolean;
  env?: Record<string, string>;
  /** Spawn the latchctl binary for this step (a command that runs a child process writing to our stdout). */
  binary?: boolean;
  /** More masking for this step, per side (e.g. an ID the step itself creates), applied after the usual masks. */
  normalise?: (tool: Tool, text: string) => string;
}

/** One step of an interactive dialog: wait until the output satisfies `until`, then write `send`. */
export interface DialogStep {
  until?: (stdout: string, stderr: string) => boolean;
  what?: string;
  send?: string;
  /** Close stdin after this step. */
  end?: boolean;
  /** Run a command (with the same tool, on the same member) after waiting, e.g. a put from "another terminal". */
  side?: readonly string[] | ((tool: Tool) => readonly string[]);
}

/** Steps compared by the transcripts of this test file; TRANSCRIPT_SUMMARY=1 prints the count at the end. */
export const compared = { steps: 0 };
afterAll(() => {
  if (process.env['TRANSCRIPT_SUMMARY']) console.log(`transcript steps compared: ${compared.steps}`);
});

export class Transcript {
  readonly leases: Record<Tool, bigint[]> = { etcdctl: [], latchctl: [] };

  private constructor(
    readonly members: Record<Tool, Member>,
    readonly ids: Record<Tool, ServerIdentity>,
  ) {}

  static async start(set: MemberSet, kind: MemberKind = 'latchkey'): Promise<Transcript> {
    const [a, b] = await Promise.all([set.start({ kind }), set.start({ kind })]);
    const literals = (m: Member): ServerIdentity['literals'] => [
      [m.dir, '<tmp-dir>'],
      [m.peerUrl, '<peer-url>'],
      [m.clientUrl, '<client-url>'],
    ];
    const [ia, ib] = await Promise.all([identify(a.endpoint, literals(a)), identify(b.endpoint, literals(b))]);
    return new Transcript({ etcdctl: a, latchctl: b }, { etcdctl: ia, latchctl: ib });
  }

  endpoint(tool: Tool): string {
    return this.members[tool].endpoint;
  }

  /** The `i`-th lease granted on `tool`'s member, as `%016x`. */
  lease(tool: Tool, i: number): string {
    const id = this.leases[tool][i];
    if (id === undefined) throw new Error(`no lease #${i} was granted through ${tool}`);
    return id.toString(16).padStart(16, '0');
  }

  /** Runs one command through both tools (concurrently, each on its own member) and compares. */
  async run(args: readonly string[] | ((tool: Tool) => readonly string[]), options: StepOptions = {}): Promise<Record<Tool, Outcome>> {
    const argsFor = (tool: Tool): readonly string[] => (typeof args === 'function' ? args(tool) : args);
    const [e, l] = await Promise.all(
      (['etcdctl', 'latchctl'] as const).map((tool) =>
        (options.binary ? runTool : oneShot)(tool, this.endpoint(tool), argsFor(tool), { stdin: options.stdin, env: options.env }),
      ),
    );
    return this.compare(argsFor('etcdctl'), { etcdctl: e!, latchctl: l! }, options);
  }

  /**
   * Runs a long-running command through both tools, drives each through the same dialog (waiting for output
   * before each line it sends), then either waits for it to exit or stops it (SIGTERM) and compares. With
   * `stop`, the exit code is not compared (a stopped process has none of its own), only the output.
   */
  async dialog(
    args: readonly string[] | ((tool: Tool) => readonly string[]),
    steps: readonly DialogStep[],
    options: StepOptions & { stop?: boolean } = {},
  ): Promise<Record<Tool, Outcome>> {
    const argsFor = (tool: Tool): readonly string[] => (typeof args === 'function' ? args(tool) : args);
    const drive = async (tool: Tool): Promise<ToolResult> => {
      const p: ToolProcess = startTool(tool, this.endpoint(tool), argsFor(tool), { env: options.env });
      try {
        for (const s of steps) {
          if (s.until) await p.waitFor(s.until, `${tool}: ${s.what ?? 'output'}`);
          if (s.side) {
            const sideArgs = typeof s.side === 'function' ? s.side(tool) : s.side;
            const r = await oneShot(tool, this.endpoint(tool), sideArgs, {});
            if (r.code !== 0) throw new Error(`${tool} ${sideArgs.join(' ')} failed: ${r.stderr}`);
          }
          if (s.send !== undefined) p.write(s.send);
          if (s.end) p.endInput();
        }
        return options.stop ? await p.stop() : await p.exited();
      } catch (err) {
        await p.stop('SIGKILL');
        throw err;
      }
    };
    const [e, l] = await Promise.all([drive('etcdctl'), drive('latchctl')]);
    if (options.stop) {
      e!.code = 0;
      l!.code = 0;
    }
    return this.compare(argsFor('etcdctl'), { etcdctl: e!, latchctl: l! }, options);
  }

  private compare(args: readonly string[], raw: Record<Tool, ToolResult>, options: StepOptions): Record<Tool, Outcome> {
    for (const tool of ['etcdctl', 'latchctl'] as const) this.learnLeases(raw[tool].stdout, this.leases[tool]);
    const masked = {
      etcdctl: this.mask('etcdctl', raw.etcdctl, options.normalise),
      latchctl: this.mask('latchctl', raw.latchctl, options.normalise),
    };
    let title = `$ <ctl> ${args.map((a) => (a === '' || /\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`;
    if (options.stdin !== undefined) title += ` <<'EOF'\n${options.stdin}EOF`;
    if (options.note) title = `[${options.note}]\n${title}`;
    expect.soft(raw.etcdctl.timedOut || raw.latchctl.timedOut, `${title}\n  a tool hung`).toBe(false);
    expect.soft(masked.etcdctl.code, `${title}\n  etcdctl's exit code (checks the script); stdout: ${masked.etcdctl.stdout} stderr: ${masked.etcdctl.stderr}`).toBe(options.code ?? 0);
    expect.soft(raw.latchctl.stderr, `${title}\n  latchctl never prints a stack trace`).not.toMatch(/\n\s+at .*\(|node:internal|TypeError|ReferenceError/);
    if (options.flagError) {
      const first = (s: string): string => `${s.split('\n')[0]}\n`;
      expect.soft(masked.latchctl.stdout, `${title}\n  latchctl prints nothing on stdout for a rejected command line`).toBe('');
      expect.soft(masked.latchctl.stderr.split('\n').filter((x) => x !== '').length, `${title}\n  latchctl prints one error line`).toBe(1);
      masked.etcdctl = { code: masked.etcdctl.code, stdout: '', stderr: first(masked.etcdctl.stderr) };
      masked.latchctl = { ...masked.latchctl, stderr: first(masked.latchctl.stderr) };
    }
    if (process.env['TRANSCRIPT_VERBOSE']) console.log(`${title}\n${JSON.stringify(masked, null, 1)}`);
    expect.soft(masked.latchctl, `${title}\n  (Expected = etcdctl, Received = latchctl)`).toEqual(masked.etcdctl);
    compared.steps++;
    return masked;
  }

  private mask(tool: Tool, r: ToolResult, extra?: (tool: Tool, text: string) => string): Outcome {
    const id = this.ids[tool];
    const more = (s: string): string => (extra ? extra(tool, s) : s);
    const m = (s: string): string =>
      more(sortUnorderedLists(maskRemainingTtl(maskServerOutput(s, id, { leaseIds: this.leases[tool], endpointStatusLines: true })))
        .replace(/^(etcdctl|latchctl) version: .*$/m, '<ctl> version: <version>')
        .replace(/for "(etcdctl|latchctl)"/g, 'for "<ctl>"')
        .replace(/^"Took" : .*$/gm, '"Took" : <duration>')
        // `%16x` pads a 15-digit ID with a space: after masking, the padding is all that differs.
        .replace(/ {2,}(<cluster-id>|<member-id>)/g, ' $1'));
    // etcdctl's password prompt runs stty, which complains when stdin is not a terminal: its noise, not output.
    const stderr = cleanStderr(r.stderr).replace(/^stty: .*\n/gm, '');
    return { code: r.code, stdout: normaliseTables(m(r.stdout)), stderr: m(stderr) };
  }

  /** Lease IDs from `lease grant` output (`lease <hex> granted with TTL(…)`, or the JSON or fields form). */
  private learnLeases(stdout: string, into: bigint[]): void {
    const found = [
      ...[...stdout.matchAll(/^lease ([0-9a-f]{16}) granted with TTL/gm)].map((m) => BigInt(`0x${m[1]!}`)),
      ...[...stdout.matchAll(/"ID":(\d+),"TTL":\d+,"Error":/g)].map((m) => BigInt(m[1]!)),
      ...[...stdout.matchAll(/^"ID" : (\d+)\n"TTL" : \d+\n$/gm)].map((m) => BigInt(m[1]!)),
    ];
    for (const id of found) if (!into.includes(id)) into.push(id);
  }
}

/**
 * Table output after masking: IDs of two servers can differ in width (a 15- or 16-digit hex ID), and so can DB
 * sizes, which shifts the columns. Rules and cell padding are collapsed (`+-+`, `| a | b |`) and sizes masked, so
 * the cells are still compared; exact alignment is checked where both tools print the same member's table.
 */
function normaliseTables(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      if (/^\+[-+]+\+$/.test(line)) return line.replace(/-+/g, '-');
      if (!line.startsWith('|')) return line;
      return line
        .split('|')
        .map((cell) => cell.trim().replace(/^\d+(\.\d+)? [kMGT]?B$/, '<db-size>'))
        .join('|');
    })
    .join('\n');
}
