import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// Tests run from TypeScript sources: workspace package names (and their subpath exports) resolve to src/.
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@latchkey\/proto$/, replacement: src('./proto/src/index.ts') },
      { find: /^@latchkey\/server$/, replacement: src('./packages/server/src/index.ts') },
      { find: /^@latchkey\/server\/([a-z-]+)$/, replacement: src('./packages/server/src/') + '$1/index.ts' },
      { find: /^@latchkey\/client$/, replacement: src('./packages/client/src/index.ts') },
    ],
  },
  test: {
    include: ['proto/src/**/*.test.ts', 'packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
