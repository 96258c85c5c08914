// The uv-drain command line: the option table, the help generated from it,
// and the parse (node:util parseArgs) that turns argv into what to run.
import { parseArgs } from 'node:util';

export const COMMANDS = {
  why:
    'What holds the loop open: active referenced handles, closing handles and referenced JS timers, ' +
    'grouped by owner and module, with type, state and creation stack.',
  snapshot: 'Every handle on the loop and every pending JS timer.',
} as const;
export type Command = keyof typeof COMMANDS;

export const DEFAULT_IDLE_MS = 1000;
const MAX_MS = 2 ** 31 - 1;

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** How the value is written in the help, for a string option. */
  value?: string;
  help: string;
}

/** Every option of both commands; the help is made from it. */
export const OPTIONS = {
  after: { type: 'string', value: '<ms>', help: 'Report once, <ms> milliseconds after start.' },
  idle: {
    type: 'string',
    value: '<ms>',
    help: `Idle time before a "would not exit" report (default ${DEFAULT_IDLE_MS}); 0 turns it off.`,
  },
  json: { type: 'boolean', help: 'One JSON document per report (machine readable), one per line.' },
  out: { type: 'string', value: '<path>', help: 'Append reports to <path> instead of writing them to stderr.' },
  color: { type: 'boolean', help: 'Colours and a compact table even when not on a terminal.' },
  'no-color': { type: 'boolean', help: 'Plain text even on a terminal (NO_COLOR=1 does the same).' },
  'no-stacks': {
    type: 'boolean',
    help: 'No creation tracking (no async_hooks in the program): no stacks, JS timers not listed.',
  },
  help: { type: 'boolean', short: 'h', help: 'Show this help.' },
} as const satisfies Record<string, OptionSpec>;
type OptionName = keyof typeof OPTIONS;

/** uv-drain's own exit codes; otherwise it ends the way the program ended. */
export const EXIT = { help: 0, usage: 2, cannotRun: 127 } as const;

/** The exit status section of the help: [status, meaning]. */
export const EXIT_STATUS: readonly (readonly [string, string])[] = [
  ['<n>', "The program's own exit status, passed through (it may be 2 or 127 too)."],
  [
    '<signal>',
    'The program was killed by a signal: uv-drain ends by the same signal (a shell shows 128+N, ' +
      'e.g. 143 for SIGTERM), or exits 128+N if that signal does not end it.',
  ],
  [`${EXIT.help}`, 'Help was printed.'],
  [
    `${EXIT.usage}`,
    'Usage error: unknown command or option, missing or bad value, no program, or --out cannot be ' +
      'opened. The program is not run.',
  ],
  [`${EXIT.cannotRun}`, 'The program cannot be run (not found, not executable).'],
];

export interface Args {
  kind: Command;
  afterMs?: number;
  idleMs: number;
  json: boolean;
  out?: string;
  color?: boolean;
  tracking: boolean;
  /** The program and its arguments, untouched. */
  command: string[];
}

export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose help the message points to. */
    readonly kind?: Command,
  ) {
    super(`${message} (see uv-drain ${kind === undefined ? '' : `${kind} `}--help)`);
  }
}

/**
 * `{ help }` for a help request (general, or of a command), else what to
 * run. Throws UsageError. uv-drain's options end at `--` or at the first
 * argument that is not an option: the rest is the program's.
 */
export function parseCommandLine(argv: string[]): { help: Command | null } | Args {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help') return { help: null };
  if (first.startsWith('-')) throw new UsageError(`expected a command (why or snapshot) before ${first}`);
  if (!Object.hasOwn(COMMANDS, first)) throw new UsageError(`unknown command "${first}", expected why or snapshot`);
  const kind = first as Command;
  const args: Args = { kind, idleMs: DEFAULT_IDLE_MS, json: false, tracking: true, command: [] };
  // Not strict: parseArgs only splits; each option is checked below, in order, up to the program.
  const { tokens } = parseArgs({ args: rest, options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  let programAt = rest.length;
  for (const token of tokens) {
    if (token.kind !== 'option') {
      programAt = token.kind === 'positional' ? token.index : token.index + 1;
      break;
    }
    const { name, rawName, value } = token;
    if (!Object.hasOwn(OPTIONS, name)) throw new UsageError(`unknown option ${rawName}`, kind);
    const spec: OptionSpec = OPTIONS[name as OptionName];
    if (spec.type === 'boolean' && value !== undefined) throw new UsageError(`${rawName} takes no value`, kind);
    if (spec.type === 'string' && (value === undefined || value === '')) {
      throw new UsageError(`${rawName} needs a value: ${rawName} ${spec.value}`, kind);
    }
    const ms = (): number => {
      if (!/^\d+$/.test(value!) || Number(value) > MAX_MS) {
        throw new UsageError(`${rawName} expects milliseconds, a whole number from 0 to ${MAX_MS}, got "${value}"`, kind);
      }
      return Number(value);
    };
    switch (name as OptionName) {
      case 'help':
        return { help: kind };
      case 'after':
        args.afterMs = ms();
        break;
      case 'idle':
        args.idleMs = ms();
        break;
      case 'out':
        args.out = value;
        break;
      case 'json':
        args.json = true;
        break;
      case 'color':
        args.color = true;
        break;
      case 'no-color':
        args.color = false;
        break;
      case 'no-stacks':
        args.tracking = false;
        break;
    }
  }
  args.command = rest.slice(programAt);
  if (args.command.length === 0) throw new UsageError('no program given: put it after --', kind);
  return args;
}

/** `text` in lines of at most `width` columns, all but the first indented by `indent`. */
function wrap(text: string, indent: number, width = 79): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join('\n' + ' '.repeat(indent));
}

/** `  <left>   <text>`, the text in a column. */
function row(left: string, text: string, column: number): string {
  return `  ${left.padEnd(column - 3)} ${wrap(text, column)}`;
}

function optionsHelp(): string {
  return Object.entries(OPTIONS)
    .map(([name, spec]: [string, OptionSpec]) => {
      const flag = `${spec.short === undefined ? '' : `-${spec.short}, `}--${name}${spec.value === undefined ? '' : ` ${spec.value}`}`;
      return row(flag, spec.help, 21);
    })
    .join('\n');
}

const EXAMPLES: Record<Command, string[]> = {
  why: [
    'uv-drain why -- node server.js',
    'uv-drain why --after 5000 --out why.txt -- node test/run.js',
    "uv-drain why -- node app.js --json   (--json is the program's)",
  ],
  snapshot: ['uv-drain snapshot --json --after 1000 -- node app.mjs > app-output.txt'],
};

/** The general help (no command), or the help of one command. */
export function help(kind: Command | null): string {
  const commands: Command[] = kind === null ? ['why', 'snapshot'] : [kind];
  const head =
    kind === null
      ? `Usage: uv-drain <command> [options] [--] <program> [args...]
       uv-drain <command> --help

Runs <program> with uv-drain preloaded (creation stacks tracked from the
start) and prints what is on its libuv loop. The program's stdin, stdout,
stderr and exit status are its own; reports go to this command's stderr
(or --out) and never to the program's stdout.

Commands:
${commands.map((c) => row(c, COMMANDS[c], 21)).join('\n')}`
      : `Usage: uv-drain ${kind} [options] [--] <program> [args...]

${wrap(COMMANDS[kind], 0)}

Runs <program> with uv-drain preloaded; its stdin, stdout, stderr and exit
status are its own, reports go to stderr (or --out).`;
  return `${head}

A report is printed:
  - each time the program receives SIGUSR2 (sent to it or to uv-drain),
  - once, --after <ms> after start,
  - when the program idles for --idle <ms> while something holds it open:
    it would not exit by itself.

Options${kind === null ? ' (of both commands)' : ''}:
${optionsHelp()}

The program starts after -- (or at the first argument that is not an
option): everything after -- is passed to it untouched, options that look
like uv-drain's included.

If <program> is node (or a .js/.mjs/.cjs file, run with this node), the
preload is passed with --require; any other program gets it through
NODE_OPTIONS and it takes effect in the first Node.js process it starts.

Exit status:
${EXIT_STATUS.map(([status, text]) => row(status, text, 13)).join('\n')}

Examples:
${[...commands.flatMap((c) => EXAMPLES[c]), 'kill -USR2 <pid of uv-drain or of the program>'].map((e) => `  ${e}`).join('\n')}
`;
}
