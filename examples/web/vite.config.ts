// @vitejs/plugin-react is not used: esbuild's own automatic JSX runtime is all this page needs.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  esbuild: { jsx: 'automatic' },
  // The workspace client from its TypeScript (as tsconfig.json's paths do), so the page never bundles a stale build.
  resolve: {
    alias: [
      { find: /^@latchkey\/client$/, replacement: fileURLToPath(new URL('../../packages/client/src/index.ts', import.meta.url)) },
      { find: /^@latchkey\/client\/react$/, replacement: fileURLToPath(new URL('../../packages/client/src/react.tsx', import.meta.url)) },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    rollupOptions: {
      // React Query's "use client" directives mean nothing outside React Server Components.
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE' || warning.code === 'SOURCEMAP_ERROR') return;
        warn(warning);
      },
    },
  },
  logLevel: 'warn',
});
