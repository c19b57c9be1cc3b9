/**
 * Reading configuration values: one reader per environment that names the variable in every refusal, and the
 * value rules shared by config.ts and the OpenID provider configuration (oidc/provider-config.ts).
 */
import { urlWithoutPassword } from './redact.ts';

/** A rate limit: at most `points` events in `durationMs`. */
export interface Limit {
  readonly points: number;
  readonly durationMs: number;
}

/** A configuration value was refused. `variable` names the environment variable (or CLI flag) at fault. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const TRUE_WORDS = ['true', 'yes', 'on', '1'] as const;

const FALSE_WORDS = ['false', 'no', 'off', '0'] as const;

/** The shortest spelling of a duration, for messages: `1000` → `1s`, `1500` → `1500ms`. */
function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Parses `90s`, `15m`, `1h`, `7d` (and `0`) into milliseconds. */
export function parseDuration(value: string): number | undefined {
  const match = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = match[2];
  if (unit === undefined) return amount === 0 ? 0 : undefined;
  return amount * (UNIT_MS[unit] ?? 0);
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Reads variables from one environment, naming the variable in every refusal. */
export class EnvReader {
  constructor(private readonly env: Env) {}

  string(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value === '' ? undefined : value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.string(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      throw new ConfigError(name, `must be one of ${allowed.join(', ')} (got "${value}")`);
    }
    return value as T;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.string(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new ConfigError(name, `must be a whole number from ${min} to ${max} (got "${value}")`);
    }
    return Number(value);
  }

  duration(name: string, fallback: string, opts: { allowZero?: boolean; minMs?: number } = {}): number {
    const raw = this.string(name) ?? fallback;
    const ms = parseDuration(raw);
    const minMs = opts.minMs ?? 1000;
    if (ms === undefined) {
      throw new ConfigError(name, `must be a duration such as 90s, 15m, 1h or 7d${opts.allowZero ? ', or 0' : ''} (got "${raw}")`);
    }
    // Say the real rule: `500ms` is well-formed, it is only too short.
    if (ms === 0 && !opts.allowZero) throw new ConfigError(name, `must be at least ${formatDuration(minMs)} (got "${raw}")`);
    if (ms !== 0 && ms < minMs) {
      throw new ConfigError(name, `must be at least ${formatDuration(minMs)}${opts.allowZero ? ', or 0' : ''} (got "${raw}")`);
    }
    return ms;
  }

  /** One rule for every on/off variable: true/false, yes/no, on/off or 1/0, in any case. */
  boolean(name: string, fallback: boolean): boolean {
    const value = this.string(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if ((TRUE_WORDS as readonly string[]).includes(value)) return true;
    if ((FALSE_WORDS as readonly string[]).includes(value)) return false;
    throw new ConfigError(name, `must be one of ${TRUE_WORDS.join(', ')} or ${FALSE_WORDS.join(', ')} (got "${value}")`);
  }

  list(name: string): string[] {
    return (this.string(name) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }

  limit(name: string, fallback: string): Limit {
    const raw = this.string(name) ?? fallback;
    const match = /^(\d{1,9})\/(.+)$/.exec(raw.trim());
    const durationMs = match?.[2] === undefined ? undefined : parseDuration(match[2]);
    if (!match || Number(match[1]) < 1 || durationMs === undefined) {
      throw new ConfigError(name, `must be COUNT/WINDOW such as 10/1m (got "${raw}")`);
    }
    if (durationMs < 1000) throw new ConfigError(name, `the window must be at least 1s (got "${raw}")`);
    return { points: Number(match[1]), durationMs };
  }

  origins(name: string): string[] {
    return this.list(name).map((value) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new ConfigError(name, `"${value}" is not an origin such as https://app.example.com`);
      }
      if (url.origin === 'null' || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
        throw new ConfigError(name, `"${value}" is not an http(s) origin`);
      }
      return url.origin;
    });
  }
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** An issuer or redirect URL: https, or plain http for a loopback host only. */
export function parseSecureUrl(variable: string, what: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, `${what} "${urlWithoutPassword(value)}" is not a URL`);
  }
  // Plain http would let anyone on the path forge ID tokens or steal codes; it is allowed only on this machine.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new ConfigError(variable, `${what} must be https:// (http:// only for a loopback host)`);
  }
  return value;
}
