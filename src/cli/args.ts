/**
 * Option parsing for the `ustack` command: node:util parseArgs in strict
 * mode, so an unknown option, an option without its value or an argument a
 * command does not take is a usage error (the message, then the command's
 * usage, on stderr; exit code 2) instead of something silently ignored.
 *
 * Every command takes `--help` / `-h` (its usage on stdout, exit code 0).
 * Options DESIGN.md calls repeatable are declared `multiple: true` and come
 * back as arrays.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { codedError } from '../errors/node-errors.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/** One command's command line: its name (for messages), usage text, options and how many positionals it takes. */
export interface CommandLine<O extends OptionsConfig> {
  /** 'echo': messages read "ustack echo: ...". */
  readonly command: string;
  readonly usage: string;
  readonly options: O;
  /** The fewest and most positional arguments; [0, 0] when absent. */
  readonly positionals?: readonly [min: number, max: number];
  /** What the positional argument is, for "missing HOST". */
  readonly argument?: string;
}

/** Declares a command line, keeping the option literals' types for the parsed values. */
export function commandLine<const O extends OptionsConfig>(spec: CommandLine<O>): CommandLine<O> {
  return spec;
}

type Parsed<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O & typeof HELP; strict: true; allowPositionals: true; args: string[] }>
>;

export interface ParsedCommandLine<O extends OptionsConfig> {
  readonly values: Parsed<O>['values'];
  readonly positionals: string[];
}

/** The error a command throws for an option value it cannot use; reported like a parse error. */
export function usageError(message: string): Error & { code: string } {
  return codedError('ERR_USTACK_USAGE', message);
}

function isUsageError(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'ERR_USTACK_USAGE' || code.startsWith('ERR_PARSE_ARGS_'));
}

/** Prints a usage error the way every command does; returns the exit code (2). */
export function reportUsageError(command: string, usage: string, message: string): number {
  process.stderr.write(`ustack${command ? ` ${command}` : ''}: ${message}\n${usage}\n`);
  return 2;
}

/** Parses argv strictly (throws parseArgs' ERR_PARSE_ARGS_* errors, or ERR_USTACK_USAGE for a positional count). */
export function parseCommandLine<O extends OptionsConfig>(argv: readonly string[], spec: CommandLine<O>): ParsedCommandLine<O> {
  const [min, max] = spec.positionals ?? [0, 0];
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { ...spec.options, ...HELP },
    strict: true,
    allowPositionals: max > 0,
  });
  if (!(values as { help?: boolean }).help) {
    if (positionals.length > max) throw usageError(`unexpected argument '${positionals[max]}'`);
    if (positionals.length < min) throw usageError(`missing ${spec.argument ?? 'argument'}`);
  }
  return { values: values as Parsed<O>['values'], positionals };
}

/**
 * Runs a command: parses argv by `spec`, answers --help, and turns a usage
 * error (from parsing or thrown by `body` through usageError) into the
 * message and the usage on stderr with exit code 2. Other errors propagate.
 */
export async function runCommand<O extends OptionsConfig>(
  argv: readonly string[],
  spec: CommandLine<O>,
  body: (args: ParsedCommandLine<O>) => number | Promise<number>,
): Promise<number> {
  let args: ParsedCommandLine<O>;
  try {
    args = parseCommandLine(argv, spec);
  } catch (err) {
    if (isUsageError(err)) return reportUsageError(spec.command, spec.usage, err.message);
    throw err;
  }
  if ((args.values as { help?: boolean }).help) {
    process.stdout.write(`${spec.usage}\n`);
    return 0;
  }
  try {
    return await body(args);
  } catch (err) {
    if (isUsageError(err)) return reportUsageError(spec.command, spec.usage, err.message);
    throw err;
  }
}

/** An integer option's value (`name` as shown: '--port') in [min, max], or undefined when absent; a usage error otherwise. */
export function integerOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw usageError(`${name} must be an integer in ${min}..${max}, not '${value}'`);
  return n;
}

/** A non-negative number option (e.g. milliseconds), or undefined when absent; a usage error otherwise. */
export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n) || n < 0) throw usageError(`${name} must be a non-negative number, not '${value}'`);
  return n;
}

/** One of `choices`, or undefined when absent; a usage error otherwise. */
export function choiceOption<C extends string>(value: string | undefined, name: string, choices: readonly C[]): C | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) throw usageError(`${name} must be one of ${choices.join(', ')}, not '${value}'`);
  return value as C;
}

/**
 * The one value of an option declared repeatable (DESIGN.md: --address and
 * --host-address, for dual stack) while the stack takes one: a usage error
 * when given more than once.
 */
export function singleOf(values: readonly string[] | undefined, name: string): string | undefined {
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) throw usageError(`${name} is given ${values.length} times; this version takes one (IPv4 only)`);
  return values[0];
}
