/**
 * `-w table`: the boxed tables etcdctl draws with olekukonko/tablewriter (member list, endpoint status, health and
 * hashkv, snapshot status), plus the row builders the simple printer joins with `, `.
 *
 * Rendering contract (tablewriter's defaults as etcdctl uses them): a `+---+` rule above and below the header
 * and at the bottom; header cells upper-cased (`_` → space) and centred (extra space on the right); body cells
 * right-aligned; one space of padding inside each `|`; cells longer than 30 columns that contain spaces are
 * wrapped onto several lines with tablewriter's minimum-raggedness line breaking.
 */
import type { MemberListResponse } from '@latchkey/proto';
import { hexId, humanizeBytes } from '../go-format.js';
import { type DbStatus, type EpHashKV, type EpHealth, type EpStatus, type PrinterOptions, UnsupportedPrinter } from './printer.js';

export function memberListRows(r: MemberListResponse): string[][] {
  return r.members.map((m) => [
    hexId(m.ID),
    m.name === '' ? 'unstarted' : 'started',
    m.name,
    m.peerURLs.join(','),
    m.clientURLs.join(','),
    String(m.isLearner),
  ]);
}
const MEMBER_HEADER = ['ID', 'Status', 'Name', 'Peer Addrs', 'Client Addrs', 'Is Learner'];

export function endpointHealthRows(list: EpHealth[]): string[][] {
  return list.map((h) => [h.ep, String(h.health), h.took, h.error]);
}
const HEALTH_HEADER = ['endpoint', 'health', 'took', 'error'];

export function endpointStatusRows(list: EpStatus[]): string[][] {
  return list.map(({ ep, resp }) => [
    ep,
    hexId(resp.header?.memberId ?? 0n),
    resp.version,
    humanizeBytes(resp.dbSize),
    String(resp.leader === (resp.header?.memberId ?? 0n)),
    String(resp.isLearner),
    resp.raftTerm.toString(),
    resp.raftIndex.toString(),
    resp.raftAppliedIndex.toString(),
    resp.errors.join(', '),
  ]);
}
const STATUS_HEADER = ['endpoint', 'ID', 'version', 'db size', 'is leader', 'is learner', 'raft term', 'raft index', 'raft applied index', 'errors'];

export function endpointHashKVRows(list: EpHashKV[]): string[][] {
  return list.map(({ ep, resp }) => [ep, String(resp.hash)]);
}
const HASHKV_HEADER = ['endpoint', 'hash'];

export function dbStatusRows(s: DbStatus): string[][] {
  return [[(s.hash >>> 0).toString(16), s.revision.toString(), String(s.totalKey), humanizeBytes(s.totalSize)]];
}
const DBSTATUS_HEADER = ['hash', 'revision', 'total keys', 'total size'];

export class TablePrinter extends UnsupportedPrinter {
  constructor(private readonly o: PrinterOptions) {
    super('table');
  }
  override memberList(r: MemberListResponse): void {
    this.o.out.out(renderTable(MEMBER_HEADER, memberListRows(r)));
  }
  override endpointHealth(list: EpHealth[]): void {
    this.o.out.out(renderTable(HEALTH_HEADER, endpointHealthRows(list)));
  }
  override endpointStatus(list: EpStatus[]): void {
    this.o.out.out(renderTable(STATUS_HEADER, endpointStatusRows(list)));
  }
  override endpointHashKV(list: EpHashKV[]): void {
    this.o.out.out(renderTable(HASHKV_HEADER, endpointHashKVRows(list)));
  }
  override dbStatus(s: DbStatus): void {
    this.o.out.out(renderTable(DBSTATUS_HEADER, dbStatusRows(s)));
  }
}

const MAX_CELL_WIDTH = 30;

/** Display width: one column per code point (etcdctl's tables hold ASCII). */
const width = (s: string): number => [...s].length;

/** A table as tablewriter renders it with SetAlignment(ALIGN_RIGHT) and otherwise default settings. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cols = header.length;
  const colWidth = new Array<number>(cols).fill(0);
  const cellLines = (text: string, col: number): string[] => {
    const { lines, cellWidth } = wrapCell(text);
    colWidth[col] = Math.max(colWidth[col]!, cellWidth);
    return lines;
  };
  const headerLines = header.map((h, i) => cellLines(h, i));
  const bodyLines = rows.map((r) => r.map((c, i) => cellLines(c, i)));

  const rule = `+${colWidth.map((w) => '-'.repeat(w + 2)).join('+')}+\n`;
  let out = rule;
  const headerHeight = Math.max(...headerLines.map((l) => l.length));
  for (let x = 0; x < headerHeight; x++) {
    out += '|';
    for (let y = 0; y < cols; y++) {
      const h = title(headerLines[y]![x] ?? '');
      out += ` ${center(h, colWidth[y]!)} |`;
    }
    out += '\n';
  }
  out += rule;
  for (const row of bodyLines) {
    const height = Math.max(...row.map((l) => l.length));
    for (let x = 0; x < height; x++) {
      out += '|';
      for (let y = 0; y < cols; y++) {
        // tablewriter fills the missing lines of shorter cells with two spaces.
        const cell = row[y]![x] ?? '  ';
        out += ` ${' '.repeat(Math.max(0, colWidth[y]! - width(cell)))}${cell} |`;
      }
      out += '\n';
    }
  }
  out += rule;
  return out;
}

/** tablewriter's Title(): `_` (and a `.` not between digits) become spaces, trimmed, upper-cased. */
function title(name: string): string {
  const rs = [...name];
  const numOrSpace = (c: string | undefined): boolean => c !== undefined && /[0-9 ]/.test(c);
  for (let i = 0; i < rs.length; i++) {
    if (rs[i] === '_') rs[i] = ' ';
    else if (rs[i] === '.' && ((i !== 0 && !numOrSpace(rs[i - 1])) || (i !== rs.length - 1 && !numOrSpace(rs[i + 1])))) rs[i] = ' ';
  }
  const t = rs.join('').trim();
  return (t === '' && name.length > 0 ? ' ' : t).toUpperCase();
}

function center(s: string, w: number): string {
  const gap = w - width(s);
  if (gap <= 0) return s;
  const left = Math.floor(gap / 2);
  return ' '.repeat(left) + s + ' '.repeat(gap - left);
}

/**
 * A cell's lines and the width it claims: newline-separated paragraphs, each wrapped at 30 columns (words never
 * split). A wrapped cell claims the full 30 columns (or its longest word), as tablewriter's parseDimension does.
 */
function wrapCell(text: string): { lines: string[]; cellWidth: number } {
  const paragraphs = text.split('\n');
  let max = 0;
  for (const p of paragraphs) max = Math.max(max, width(p));
  const limit = Math.min(max, MAX_CELL_WIDTH);
  let cellWidth = limit;
  const lines: string[] = [];
  paragraphs.forEach((p, i) => {
    if (i > 0) lines.push(' ');
    for (const l of wrapString(p, limit)) {
      cellWidth = Math.max(cellWidth, width(l));
      lines.push(l);
    }
  });
  return { lines, cellWidth };
}

/** tablewriter's WrapString: words (split on spaces) broken into lines of minimal raggedness. */
function wrapString(s: string, lim: number): string[] {
  const words = s.split(' ');
  let limit = lim;
  for (const w of words) if (width(w) > limit) limit = width(w);
  return wrapWords(words, 1, limit, 100_000).map((line) => line.join(' '));
}

function wrapWords(words: string[], spc: number, lim: number, pen: number): string[][] {
  const n = words.length;
  const length: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row = new Array<number>(n).fill(0);
    row[i] = width(words[i]!);
    for (let j = i + 1; j < n; j++) row[j] = row[j - 1]! + spc + width(words[j]!);
    length.push(row);
  }
  const nbrk = new Array<number>(n).fill(0);
  const cost = new Array<number>(n).fill(2 ** 31 - 1);
  for (let i = n - 1; i >= 0; i--) {
    if (length[i]![n - 1]! <= lim) {
      cost[i] = 0;
      nbrk[i] = n;
    } else {
      for (let j = i + 1; j < n; j++) {
        const d = lim - length[i]![j - 1]!;
        let c = d * d + cost[j]!;
        if (length[i]![j - 1]! > lim) c += pen;
        if (c < cost[i]!) {
          cost[i] = c;
          nbrk[i] = j;
        }
      }
    }
  }
  const lines: string[][] = [];
  let i = 0;
  while (i < n) {
    lines.push(words.slice(i, nbrk[i]));
    i = nbrk[i]!;
  }
  return lines;
}
