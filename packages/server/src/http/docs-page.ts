/**
 * The `/docs` page (@fastify/swagger-ui): Latchkey's name and mark instead of Fastify's, and a
 * Content-Security-Policy the page keeps without a violation in the browser console.
 */
import type { FastifySwaggerUiOptions } from '@fastify/swagger-ui';

// A keyhole and the name, white on the page's dark top bar. Text, not paths: it stays small and legible.
const LOGO = `<svg xmlns="http://www.w3.org/2000/svg" width="176" height="40" viewBox="0 0 176 40">
<circle cx="20" cy="20" r="17" fill="none" stroke="#fff" stroke-width="3"/>
<circle cx="20" cy="16" r="5" fill="#fff"/><path d="M17.5 19h5l2 11h-9z" fill="#fff"/>
<text x="46" y="28" fill="#fff" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="24" font-weight="700">Latchkey</text>
</svg>`;

// swagger-ui's React tree renders one fixed <style> element; its hash (as Chromium reports it) lets it in
// without 'unsafe-inline'. The browser test of /docs fails if a swagger-ui update changes it.
const SWAGGER_UI_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='";

// The plugin's default policy, minus what this page never uses: no https: styles or fonts (nothing is
// loaded from elsewhere), no validator.swagger.io badge, and no upgrade-insecure-requests, which would
// break the page on a plain-HTTP address other than localhost.
const CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "font-src 'self' data:",
  "frame-ancestors 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  `style-src 'self' ${SWAGGER_UI_STYLE}`,
  "form-action 'self'",
].join('; ');

export function docsPageOptions(): FastifySwaggerUiOptions {
  return {
    routePrefix: '/docs',
    staticCSP: CSP,
    logo: { type: 'image/svg+xml', content: Buffer.from(LOGO), href: '/docs', target: '_self' },
    theme: { title: 'Latchkey API' },
    // No request to validator.swagger.io: the page talks to this server only.
    uiConfig: { validatorUrl: null },
  };
}
