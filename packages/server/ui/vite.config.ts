// The hosted pages (SPEC §12), built into ui/dist, which the server serves under /ui/ (http/routes/ui.ts).
// esbuild's automatic JSX runtime is all they need; no plugin, nothing loaded from another host.
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  esbuild: { jsx: 'automatic' },
  // `source` resolves @latchkey/client to its TypeScript, so the pages build without building the client first.
  resolve: { conditions: ['source', ...defaultClientConditions] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // Vite would inline small assets as data: URLs, which the pages' CSP (img-src 'self') refuses.
    assetsInlineLimit: 0,
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
