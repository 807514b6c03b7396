import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatScript, parseScript } from './rafttest/datadriven.js';
import { InteractionEnv } from './rafttest/interaction-env.js';

// Scripted scenarios: each file in testdata/ is a transcript of commands and the exact output they must produce.
// `UPDATE=1 npx vitest run packages/server/src/raft/interaction.test.ts` rewrites the files from the actual
// output; review the diff before committing it.
const dir = fileURLToPath(new URL('./testdata/', import.meta.url));
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();

describe('raft - scripted scenarios', () => {
  it.each(files)('raft - scenario %s', (file) => {
    const path = dir + file;
    const { cases, trailingComments } = parseScript(readFileSync(path, 'utf8'), file);
    const env = new InteractionEnv();
    const actual = cases.map((c) => env.handle(c.command));
    if (process.env['UPDATE'] === '1') {
      writeFileSync(path, formatScript(cases, actual, trailingComments));
      return;
    }
    cases.forEach((c, i) => {
      expect(actual[i], `${file}:${c.line}: ${c.command}`).toBe(c.expected);
    });
  });
});
