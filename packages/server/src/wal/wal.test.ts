import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openWal, WalCorruptError } from './wal.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'wal-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const entry = (index: number, term = 1, data = `e${index}`) => ({ index, term, type: 0, data: Buffer.from(data) });
const SEG = 64 * 1024;

function segmentFile(dir: string): string {
  return join(dir, readdirSync(dir).filter((n) => n.endsWith('.wal')).sort().at(-1)!);
}

describe('wal - recovery', () => {
  it('returns what was saved: entries, the newest hard state, after reopening', async () => {
    const dir = tmp();
    const { wal } = openWal(dir, 7n, { segmentBytes: SEG });
    await wal.save({ term: 1, vote: 7n, commit: 0 }, [entry(1), entry(2)], true);
    await wal.save({ term: 1, vote: 7n, commit: 2 }, [entry(3)], true);
    await wal.close();
    const { contents } = openWal(dir, 0n, { segmentBytes: SEG });
    expect(contents.memberId).toBe(7n);
    expect(contents.hardState).toEqual({ term: 1, vote: 7n, commit: 2 });
    expect(contents.entries.map((e) => [e.index, Buffer.from(e.data).toString()])).toEqual([
      [1, 'e1'],
      [2, 'e2'],
      [3, 'e3'],
    ]);
  });

  it('keeps a commit-only hard state in memory until the next write or close, in save order', async () => {
    const dir = tmp();
    const { wal } = openWal(dir, 7n, { segmentBytes: SEG });
    await wal.save({ term: 1, vote: 7n, commit: 0 }, [entry(1)], true);
    await wal.save({ term: 1, vote: 7n, commit: 1 }, [], false);
    // Not written yet: a crash now (reopening without close) recovers the older hard state, and the entry.
    let r = openWal(dir, 0n, { segmentBytes: SEG }).contents;
    expect([r.hardState, r.entries.length]).toEqual([{ term: 1, vote: 7n, commit: 0 }, 1]);
    // The next durable write carries it first; a later commit-only state waits again and close() writes it.
    await wal.save(undefined, [entry(2)], true);
    r = openWal(dir, 0n, { segmentBytes: SEG }).contents;
    expect([r.hardState, r.entries.length]).toEqual([{ term: 1, vote: 7n, commit: 1 }, 2]);
    await wal.save({ term: 1, vote: 7n, commit: 2 }, [], false);
    await wal.close();
    r = openWal(dir, 0n, { segmentBytes: SEG }).contents;
    expect([r.hardState, r.entries.length]).toEqual([{ term: 1, vote: 7n, commit: 2 }, 2]);
  });

  it('a later entry overwrites a conflicting suffix', async () => {
    const dir = tmp();
    const { wal } = openWal(dir, 1n, { segmentBytes: SEG });
    await wal.save(undefined, [entry(1), entry(2), entry(3)], true);
    await wal.save(undefined, [entry(2, 2, 'new2')], true);
    await wal.close();
    const { contents } = openWal(dir, 1n, { segmentBytes: SEG });
    expect(contents.entries.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  it('rolls over to new segments and recovers across them; releases old segments behind a snapshot', async () => {
    const dir = tmp();
    const { wal } = openWal(dir, 1n, { segmentBytes: SEG });
    const big = 'x'.repeat(4000);
    for (let i = 1; i <= 60; i++) await wal.save({ term: 1, vote: 1n, commit: i - 1 }, [entry(i, 1, big)], true);
    expect(readdirSync(dir).filter((n) => n.endsWith('.wal')).length).toBeGreaterThan(2);
    await wal.saveSnapshot({ index: 50, term: 1, voters: [1n, 0xffffffffffffffffn], learners: [7n] });
    await wal.releaseTo(50);
    await wal.close();
    const { contents } = openWal(dir, 1n, { segmentBytes: SEG });
    expect(contents.snapshot).toEqual({ index: 50, term: 1, voters: [1n, 0xffffffffffffffffn], learners: [7n] });
    expect(contents.entries.map((e) => e.index)).toEqual([51, 52, 53, 54, 55, 56, 57, 58, 59, 60]);
  });
});

describe('wal - damage', () => {
  async function written(): Promise<{ dir: string; file: string }> {
    const dir = tmp();
    const { wal } = openWal(dir, 1n, { segmentBytes: SEG });
    for (let i = 1; i <= 5; i++) await wal.save({ term: 1, vote: 1n, commit: i }, [entry(i)], true);
    await wal.close();
    return { dir, file: segmentFile(dir) };
  }

  function offsetOf(buf: Buffer, text: string): number {
    const at = buf.indexOf(Buffer.from(text));
    expect(at).toBeGreaterThan(0);
    return at;
  }

  it('a torn tail (damage in the last batch, no batch after it) is truncated with a warning', async () => {
    const { dir, file } = await written();
    const buf = readFileSync(file);
    buf[offsetOf(buf, 'e5')]! ^= 0xff; // flip a payload byte of the last entry
    writeFileSync(file, buf);
    const warnings: string[] = [];
    const { wal, contents } = openWal(dir, 1n, { segmentBytes: SEG, warn: (m) => warnings.push(m) });
    expect(contents.entries.map((e) => e.index)).toEqual([1, 2, 3, 4]);
    expect(warnings.join()).toMatch(/torn write/);
    // The log stays writable after the repair and keeps what is written next.
    await wal.save(undefined, [entry(5, 1, 'again')], true);
    await wal.close();
    expect(openWal(dir, 1n, { segmentBytes: SEG }).contents.entries.map((e) => Buffer.from(e.data).toString()).at(-1)).toBe('again');
  });

  it('damage followed by a valid record stops recovery with a clear error', async () => {
    const { dir, file } = await written();
    const buf = readFileSync(file);
    buf[offsetOf(buf, 'e2')]! ^= 0xff;
    writeFileSync(file, buf);
    expect(() => openWal(dir, 1n, { segmentBytes: SEG })).toThrow(WalCorruptError);
    expect(() => openWal(dir, 1n, { segmentBytes: SEG })).toThrow(/valid batch at \d+ after it; refusing to start/);
  });

  it('a truncated file (crash mid-write without preallocation) loses only the unfinished record', async () => {
    const { dir, file } = await written();
    const buf = readFileSync(file);
    writeFileSync(file, buf.subarray(0, offsetOf(buf, 'e5') + 1));
    const { contents } = openWal(dir, 1n, { segmentBytes: SEG, warn: () => {} });
    expect(contents.entries.map((e) => e.index)).toEqual([1, 2, 3, 4]);
  });
});
