/**
 * The ports of `npm run demo`: from flags (`npm run demo -- --latchkey-port 9090`), else the environment
 * (`DEMO_LATCHKEY_PORT=9090 npm run demo`), else 5173 / 8080 / 8081. `0` picks any free port.
 *
 * @example
 *   demoPorts(process.argv.slice(2), process.env); // { page: 5173, latchkey: 8080, jobs: 8081 }
 */
import { parseArgs } from 'node:util';

export interface DemoPorts {
  readonly page: number;
  readonly latchkey: number;
  readonly jobs: number;
}

/** Which flag and variable set each port, and its default. */
const SOURCES = {
  page: { flag: '--page-port', variable: 'DEMO_PAGE_PORT', fallback: 5173 },
  latchkey: { flag: '--latchkey-port', variable: 'DEMO_LATCHKEY_PORT', fallback: 8080 },
  jobs: { flag: '--jobs-port', variable: 'DEMO_JOBS_PORT', fallback: 8081 },
} as const;

export const DEMO_USAGE =
  'npm run demo -- [--page-port N] [--latchkey-port N] [--jobs-port N]   (or DEMO_PAGE_PORT, DEMO_LATCHKEY_PORT, DEMO_JOBS_PORT; 0 = any free port)';

/** Refused flags or variables, named; the demo prints the message and exits 2. */
export class DemoPortError extends Error {}

export function demoPorts(argv: string[], env: Readonly<Record<string, string | undefined>>): DemoPorts {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: { 'page-port': { type: 'string' }, 'latchkey-port': { type: 'string' }, 'jobs-port': { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new DemoPortError(`${error instanceof Error ? error.message.split(/\.\s/)[0] : String(error)}\nusage: ${DEMO_USAGE}`);
  }
  const port = (key: keyof typeof SOURCES): number => {
    const { flag, variable, fallback } = SOURCES[key];
    const fromFlag = values[flag.slice(2)];
    const raw = typeof fromFlag === 'string' ? fromFlag : env[variable] || undefined;
    if (raw === undefined) return fallback;
    if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
      throw new DemoPortError(`${typeof fromFlag === 'string' ? flag : variable}: must be a port from 0 to 65535 (got "${raw}")`);
    }
    return Number(raw);
  };
  return { page: port('page'), latchkey: port('latchkey'), jobs: port('jobs') };
}
