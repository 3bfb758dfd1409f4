/**
 * A small typed option parser: each command declares its options once (name, type, default,
 * help), and gets parsing, validation with the valid choices in the error, and `--help` text.
 * The same specs validate options given as plain objects (an experiment grid's settings, which
 * are the train command's options in camelCase).
 */
import { ConfigError } from './config';

/** One declared option. */
export interface OptionSpec {
  /** Kind of value: `--flag` / `--no-flag` for booleans. */
  type: 'string' | 'number' | 'integer' | 'boolean';
  /** One line of help. */
  help: string;
  /** Value when not given (undefined = not set). */
  default?: string | number | boolean;
  /** Allowed values of a string option. */
  choices?: readonly string[];
  /** Smallest allowed value of a number. */
  min?: number;
  /** The value must be greater than 0 (for numbers where 0 would mean nothing, e.g. epochs). */
  positive?: boolean;
}

/** Option name (camelCase here, kebab-case on the command line) → spec. */
export type OptionSpecs = Record<string, OptionSpec>;

/** Parsed options plus positional arguments. */
export interface ParsedArgs {
  options: Record<string, string | number | boolean | undefined>;
  positional: string[];
  /** The options given on the command line (the rest hold their defaults). */
  given: Set<string>;
}

/** camelCase → kebab-case. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Parses `argv` against `specs`; throws a {@link ConfigError} naming the bad option and the fix. */
export function parseArgs(argv: string[], specs: OptionSpecs, command: string): ParsedArgs {
  const byFlag = new Map(Object.entries(specs).map(([name, spec]) => [kebab(name), { name, spec }]));
  const options: ParsedArgs['options'] = Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.default]));
  const positional: string[] = [];
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [flag, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const negated = flag.startsWith('no-') && byFlag.get(flag.slice(3))?.spec.type === 'boolean';
    const entry = byFlag.get(negated ? flag.slice(3) : flag);
    if (!entry) {
      throw new ConfigError(`unknown option --${flag} for '${command}'; valid options: ${[...byFlag.keys()].map((f) => `--${f}`).join(', ')} (see --help)`);
    }
    const { name, spec } = entry;
    given.add(name);
    if (spec.type === 'boolean') {
      options[name] = !negated;
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new ConfigError(`--${flag} needs a value (${spec.help})`);
    options[name] = convert(raw, spec, `--${flag}`);
  }
  return { options, positional, given };
}

/**
 * Checks options given as an object (camelCase names) against `specs` and fills in the defaults;
 * throws a {@link ConfigError} naming `where` and the bad option, as {@link parseArgs} does.
 */
export function optionsFromObject(values: Record<string, unknown>, specs: OptionSpecs, where: string): ParsedArgs['options'] {
  const options: ParsedArgs['options'] = Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.default]));
  for (const [name, value] of Object.entries(values)) {
    const spec = specs[name];
    if (!spec) throw new ConfigError(`unknown option '${name}' in ${where}; valid options: ${Object.keys(specs).join(', ')}`);
    if (value === undefined) continue;
    const ok = spec.type === 'boolean' ? typeof value === 'boolean' : spec.type === 'string' ? typeof value === 'string' : typeof value === 'number';
    if (!ok) throw new ConfigError(`${where}: ${name} must be ${spec.type === 'integer' ? 'an integer' : `a ${spec.type}`}, got ${JSON.stringify(value)}`);
    options[name] = typeof value === 'boolean' ? value : convert(String(value), spec, `${where}: ${name}`);
  }
  return options;
}

function convert(raw: string, spec: OptionSpec, what: string): string | number {
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(raw)) {
      throw new ConfigError(`${what} ${raw} is not valid; choose one of: ${spec.choices.join(', ')}`);
    }
    return raw;
  }
  const value = Number(raw);
  const kind = spec.type === 'integer' ? 'an integer' : 'a number';
  if (raw.trim() === '' || !Number.isFinite(value) || (spec.type === 'integer' && !Number.isInteger(value))) {
    throw new ConfigError(`${what} must be ${kind}, got '${raw}'`);
  }
  if (spec.min !== undefined && value < spec.min) throw new ConfigError(`${what} must be at least ${spec.min}, got ${value}`);
  if (spec.positive && !(value > 0)) throw new ConfigError(`${what} must be greater than 0, got ${value}`);
  return value;
}

/** The `--help` text of a command. */
export function helpText(usage: string, description: string, specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const flag = s.type === 'boolean' ? `--[no-]${kebab(name)}` : `--${kebab(name)} <${s.choices ? s.choices.join('|') : s.type === 'string' ? 'value' : 'n'}>`;
    const def = s.default === undefined ? '' : ` (default: ${s.default})`;
    return `  ${flag}\n      ${s.help}${def}`;
  });
  return `usage: ${usage}\n\n${description}\n\noptions:\n${rows.join('\n')}\n`;
}
