#!/usr/bin/env node
// Marks a build folder as CommonJS: the packages are `"type": "module"`, so their second, `require` build
// (dist/cjs) needs its own package.json for Node and TypeScript to read its .js and .d.ts files as CommonJS.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: mark-commonjs.mjs DIR');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
