import * as fs from 'fs';
import * as path from 'path';

import { packageRoot } from '../util/paths';

/** A subcommand: `main(argv)` resolves with the exit code once the command is finished. */
export type CommandMain = (argv: string[]) => Promise<number>;

/** One entry of the dispatch table. */
export interface ICommand {
  /** Module beside this file that implements the command. */
  module: string;
  /** Exported function of that module. */
  exportName: string;
  /** One line for `cluster-bridge --help`. */
  summary: string;
}

/**
 * The subcommands. Modules are loaded at dispatch time, so one missing or broken command never
 * stops the others (the kernel does not load the installer and vice versa).
 */
export const COMMANDS: { [name: string]: ICommand } = {
  install: {
    module: 'install',
    exportName: 'main',
    summary:
      'install the kernelspec and the labextension [--user | --sys-prefix | --prefix DIR]'
  },
  uninstall: {
    module: 'install',
    exportName: 'uninstallMain',
    summary:
      'remove the kernelspec and the labextension [--user | --sys-prefix | --prefix DIR]'
  },
  kernel: {
    module: 'kernel',
    exportName: 'main',
    summary: 'run the bridge kernel: kernel -f CONNECTION_FILE'
  },
  run: {
    module: 'run',
    exportName: 'main',
    summary: 'run a file the way a cell runs: run --cluster NAME FILE.py'
  },
  doctor: {
    module: 'doctor',
    exportName: 'main',
    summary: 'check a cluster: connection, Python, conda, scheduler, GPUs'
  },
  jobs: {
    module: 'jobs',
    exportName: 'main',
    summary: 'list, attach to or cancel remote jobs'
  },
  clean: {
    module: 'clean',
    exportName: 'main',
    summary:
      "remove a cluster's old job dirs, runtimes and unused envs: clean NAME [--dry-run]"
  }
};

/** Entry point of bin/cluster-bridge: dispatches argv[0] and returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = Object.prototype.hasOwnProperty.call(COMMANDS, name)
    ? COMMANDS[name]
    : undefined;
  if (!command) {
    process.stderr.write(`cluster-bridge: unknown command '${name}'\n\n`);
    process.stderr.write(usage());
    return 2;
  }
  const main = loadCommand(name, command);
  if (typeof main === 'string') {
    process.stderr.write(`cluster-bridge: ${main}\n`);
    return 1;
  }
  return main(rest);
}

/** The `--help` text. */
export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map(n => n.length));
  const lines = Object.entries(COMMANDS).map(
    ([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`
  );
  return [
    'usage: cluster-bridge COMMAND [options]',
    '',
    'Run notebook cells on remote machines and HPC clusters (Jupyter kernel and tools).',
    '',
    'commands:',
    ...lines,
    '',
    'options:',
    '  --help, -h     show this help',
    '  --version, -V  show the version',
    ''
  ].join('\n');
}

/** The package version from package.json. */
export function version(): string {
  const file = path.join(packageRoot(), 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string })
    .version;
}

/**
 * Loads a command's main function, or returns why it is not available (module missing from this
 * build, or not exporting the function).
 */
export function loadCommand(
  name: string,
  command: ICommand,
  dir: string = __dirname
): CommandMain | string {
  const file = path.join(dir, command.module);
  let mod: { [key: string]: unknown };
  try {
    // A runtime path: the command modules are optional parts of a build.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(file);
  } catch (err) {
    if (Private.isMissing(err, file)) {
      return `the '${name}' command is not available in this build (${command.module} module missing)`;
    }
    throw err;
  }
  const main = mod[command.exportName];
  if (typeof main !== 'function') {
    return `the '${name}' command is not available in this build (${command.module} has no ${command.exportName}())`;
  }
  return main as CommandMain;
}

namespace Private {
  /** Whether `err` says that `file` itself (not one of its imports) cannot be found. */
  export function isMissing(err: unknown, file: string): boolean {
    const e = err as { code?: string; message?: string };
    return (
      e?.code === 'MODULE_NOT_FOUND' &&
      typeof e.message === 'string' &&
      e.message.split('\n')[0].includes(`'${file}'`)
    );
  }
}
