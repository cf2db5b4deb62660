/**
 * Command-line flags for the npm-script entry points (Node only): one option table per script is
 * both the parser's configuration (node:util parseArgs) and the usage text `--help` prints. A bad
 * flag or value ends the process with one line `error: ...` on stderr and exit code 2.
 */
import { parseArgs } from 'node:util';

interface FlagBase {
  /** What the flag does, for the usage text; further lines (after \n) are indented under it. */
  help: string;
  /** The value's placeholder in the usage text (default: by type, e.g. N, X, TEXT). */
  arg?: string;
  short?: string;
}
export type StringFlag = FlagBase & {
  type: 'string';
  default?: string;
  multiple?: boolean;
  /** The only values accepted. */
  choices?: readonly string[];
  /** Accept an empty value (otherwise `--flag ""` is an error). */
  empty?: boolean;
};
export type BooleanFlag = FlagBase & { type: 'boolean' };
/** int: an integer; number: any finite number; ints: a comma-separated list of integers. */
export type NumberFlag = FlagBase & {
  type: 'int' | 'number' | 'ints';
  default?: number | readonly number[];
  min?: number;
  max?: number;
  /** Exclusive lower bound. */
  above?: number;
};
export type Flag = StringFlag | BooleanFlag | NumberFlag;
export type Flags = Record<string, Flag>;

type ValueOf<F extends Flag> = F extends BooleanFlag
  ? boolean
  : F extends { type: 'ints' }
    ? number[]
    : F extends NumberFlag
      ? number
      : F extends { multiple: true }
        ? string[]
        : string;
export type Values<T extends Flags> = {
  [K in keyof T]: T[K] extends BooleanFlag ? boolean : T[K] extends { default: unknown } ? ValueOf<T[K]> : ValueOf<T[K]> | undefined;
};

export interface Cli<T extends Flags> {
  /** The usage line(s) after `usage: `, e.g. `npm run generate -- --prompt TEXT [options]`. */
  usage: string;
  /** Lines printed between the usage line and the flags. */
  about?: string;
  flags: T;
  /** Text printed after the flags. */
  footer?: string;
  /** Positional arguments accepted (default none). */
  positionals?: boolean;
}

/** Ends the process with `error: <message>` on stderr and exit code 2 (a usage error). */
export function usageError(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

const placeholder = (f: Flag) => f.arg ?? (f.type === 'int' ? 'N' : f.type === 'number' ? 'X' : f.type === 'ints' ? 'N,N,...' : 'VALUE');

/** The usage text of a table: one line per flag, its help beside it, its default where it has one. */
export function usageText<T extends Flags>(cli: Cli<T>): string {
  const heads = Object.entries(cli.flags).map(
    ([name, f]) => `  --${name}${f.short ? `, -${f.short}` : ''}${f.type === 'boolean' ? '' : ` ${placeholder(f)}`}`,
  );
  const column = Math.max(...heads.map((h) => h.length)) + 2;
  const lines = [`usage: ${cli.usage}`];
  if (cli.about) lines.push(cli.about);
  Object.values(cli.flags).forEach((f, i) => {
    const def = 'default' in f && f.default !== undefined ? ` (default ${[f.default].flat().join(',')})` : '';
    const [first, ...rest] = (f.help + def).split('\n');
    lines.push(heads[i].padEnd(column) + first, ...rest.map((r) => ' '.repeat(column) + r));
  });
  if (cli.footer) lines.push('', cli.footer);
  return lines.join('\n');
}

/** A parse error of node:util in one line. */
function parseErrorMessage(err: { code?: string; message: string }): string {
  const option = /'(-[^' ]*)/.exec(err.message)?.[1];
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option} (--help lists the options)`;
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
    return /argument missing/.test(err.message)
      ? `${option}: a value is missing`
      : /ambiguous/.test(err.message)
        ? `${option}: a value that starts with - is given as ${option}=VALUE`
        : err.message.split('\n')[0];
  if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL')
    return `unexpected argument "${/'([^']*)'/.exec(err.message)?.[1]}" (--help lists the options)`;
  return err.message.split('\n')[0];
}

/** One value checked against its flag and converted (a usage error when it does not fit). */
function convert(name: string, f: Flag, raw: string): unknown {
  if (f.type === 'string') {
    if (raw === '' && !f.empty) usageError(`--${name}: an empty value`);
    if (f.choices && !f.choices.includes(raw)) usageError(`--${name}: expected ${f.choices.join(' or ')}, got "${raw}"`);
    return raw;
  }
  if (f.type === 'boolean') return raw;
  const one = (s: string): number => {
    const n = s.trim() === '' ? Number.NaN : Number(s);
    const int = f.type !== 'number';
    if (!Number.isFinite(n) || (int && !Number.isInteger(n)))
      usageError(`--${name}: expected ${int ? 'an integer' : 'a number'}, got "${s}"`);
    if (f.min !== undefined && n < f.min) usageError(`--${name}: at least ${f.min}, got ${n}`);
    if (f.max !== undefined && n > f.max) usageError(`--${name}: at most ${f.max}, got ${n}`);
    if (f.above !== undefined && n <= f.above) usageError(`--${name}: must be above ${f.above}, got ${n}`);
    return n;
  };
  return f.type === 'ints' ? raw.split(',').map(one) : one(raw);
}

/**
 * Parses process.argv (or `args`) by the table. `--help`/`-h` prints the usage text and exits 0;
 * an unknown flag, a missing or bad value ends the process with a one-line error (exit 2). Also
 * makes a closed stdout (`| head`) end the process quietly.
 */
export function parseCli<const T extends Flags>(cli: Cli<T>, args = process.argv.slice(2)) {
  exitQuietlyOnEpipe();
  // --help is a flag like the others, so `--prompt -h` is a prompt, not a call for the usage.
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, f] of Object.entries(cli.flags)) {
    options[name] = { type: f.type === 'boolean' ? 'boolean' : 'string' };
    if (f.type === 'string' && f.multiple) options[name].multiple = true;
    if (f.short) options[name].short = f.short;
  }
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options, allowPositionals: cli.positionals ?? false, strict: true });
  } catch (err) {
    usageError(parseErrorMessage(err as { code?: string; message: string }));
  }
  if (parsed.values.help === true) {
    console.log(usageText(cli));
    process.exit(0);
  }
  const values: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(cli.flags)) {
    const raw = parsed.values[name];
    if (f.type === 'boolean') values[name] = raw === true;
    else if (raw === undefined) values[name] = f.default;
    else values[name] = Array.isArray(raw) ? raw.map((r) => convert(name, f, String(r))) : convert(name, f, String(raw));
  }
  return { values: values as Values<T>, positionals: parsed.positionals };
}

let epipeHandled = false;
/** A reader that stops early (`| head -1`) closes stdout: end quietly instead of with an EPIPE stack trace. */
export function exitQuietlyOnEpipe(): void {
  if (epipeHandled) return;
  epipeHandled = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}
