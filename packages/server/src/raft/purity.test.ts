import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The Raft core must be pure and synchronous (STYLE.md rule 1): no timers, I/O, clock, promises or ambient
// randomness. This test scans every non-test source under raft/ and fails on any identifier or import that would
// break that. Comments and string literals are stripped first, so prose may mention the forbidden names.
const root = fileURLToPath(new URL('./', import.meta.url));

const FORBIDDEN: [RegExp, string][] = [
  [/\bsetTimeout\b/, 'setTimeout'],
  [/\bsetInterval\b/, 'setInterval'],
  [/\bsetImmediate\b/, 'setImmediate'],
  [/\bqueueMicrotask\b/, 'queueMicrotask'],
  [/\bprocess\b/, 'process'],
  [/\bPromise\b/, 'Promise'],
  [/\basync\b/, 'async'],
  [/\bawait\b/, 'await'],
  [/\bDate\b/, 'Date'],
  [/\bperformance\b/, 'performance'],
  [/\bMath\.random\b/, 'Math.random'],
  [/\bcrypto\b/, 'crypto'],
  [/\brequire\s*\(/, 'require('],
  [/\bimport\s*\(/, 'dynamic import('],
  [/\bglobalThis\b/, 'globalThis'],
  [/\bfetch\s*\(/, 'fetch('],
  [/\bconsole\b/, 'console'],
];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = dir + name;
    if (statSync(path).isDirectory()) {
      if (name !== 'testdata') out.push(...sources(path + '/'));
    } else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) {
      out.push(path);
    }
  }
  return out;
}

/** Removes comments and the contents of string and template literals (keeping `${…}` code). */
function stripCommentsAndStrings(src: string): string {
  let out = '';
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i]!;
    const d = src[i + 1];
    if (c === '/' && d === '/') {
      while (i < n && src[i] !== '\n') i++;
    } else if (c === '/' && d === '*') {
      i = src.indexOf('*/', i + 2);
      i = i < 0 ? n : i + 2;
    } else if (c === "'" || c === '"') {
      i++;
      while (i < n && src[i] !== c) i += src[i] === '\\' ? 2 : 1;
      i++;
      out += '""';
    } else if (c === '`') {
      i++;
      out += '`';
      while (i < n && src[i] !== '`') {
        if (src[i] === '\\') i += 2;
        else if (src[i] === '$' && src[i + 1] === '{') {
          let depth = 1;
          i += 2;
          let code = '';
          while (i < n && depth > 0) {
            if (src[i] === '{') depth++;
            if (src[i] === '}') depth--;
            if (depth > 0) code += src[i];
            i++;
          }
          out += stripCommentsAndStrings(code);
        } else i++;
      }
      i++;
      out += '`';
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

describe('raft - purity', () => {
  const files = sources(root);

  it('raft - core is pure', () => {
    expect(files.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      const code = stripCommentsAndStrings(text);
      for (const [re, what] of FORBIDDEN) if (re.test(code)) problems.push(`${f.slice(root.length)}: uses ${what}`);
      // Imports must be relative (other raft modules): no node:*, no packages.
      for (const m of text.matchAll(/^\s*(?:import|export)[^'";]*?from\s+['"]([^'"]+)['"]/gm)) {
        if (!m[1]!.startsWith('./') && !m[1]!.startsWith('../')) problems.push(`${f.slice(root.length)}: imports ${m[1]}`);
      }
      for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) problems.push(`${f.slice(root.length)}: side-effect import ${m[1]}`);
    }
    expect(problems).toEqual([]);
  });

  it('raft - the purity scan catches a forbidden identifier', () => {
    // The checker must be able to fail (STYLE.md rule 10).
    const bad = 'const t = setTimeout(() => {}, 1); // Date is fine in a comment\nconst s = "Math.random in a string is fine";';
    const code = stripCommentsAndStrings(bad);
    expect(FORBIDDEN.filter(([re]) => re.test(code)).map(([, w]) => w)).toEqual(['setTimeout']);
  });
});
