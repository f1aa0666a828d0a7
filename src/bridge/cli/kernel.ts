/**
 * `cluster-bridge kernel -f CONNECTION_FILE`: the bridge kernel process, as
 * the kernelspec starts it. Wires the zeromq server, the kernel core and the
 * cell runner together; exits after shutdown_request.
 */
import * as fs from 'fs';
import * as path from 'path';

import { CellRunner } from '../kernel/cellRunner';
import { KernelCore } from '../kernel/core';
import { IConnectionInfo, KernelServer } from '../kernel/server';
import { createServices } from '../kernel/services';
import { newSession } from '../kernel/wire';
import { packageRoot } from '../util/paths';

const USAGE = 'usage: cluster-bridge kernel -f CONNECTION_FILE';

export async function main(argv: string[]): Promise<number> {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-f' || a === '--connection-file') {
      file = argv[++i];
    } else if (a.startsWith('-f=') || a.startsWith('--connection-file=')) {
      file = a.slice(a.indexOf('=') + 1);
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    } else {
      process.stderr.write(
        `unexpected argument ${JSON.stringify(a)}\n${USAGE}\n`
      );
      return 2;
    }
  }
  if (!file) {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  let connection: IConnectionInfo;
  try {
    connection = JSON.parse(fs.readFileSync(file, 'utf8')) as IConnectionInfo;
  } catch (err) {
    process.stderr.write(
      `cannot read connection file ${file}: ${(err as Error).message}\n`
    );
    return 2;
  }
  const log = (text: string) =>
    process.stderr.write(`[cluster-bridge kernel] ${text}\n`);
  const kernelId =
    // jupyter_server names it kernel-<id>.json; other clients' names stay across restarts too.
    /kernel-(.+)\.json$/.exec(path.basename(file))?.[1] ??
    path.basename(file, '.json');
  const server = new KernelServer({ connection, kernelId, log });
  let finish: () => void = () => undefined;
  const finished = new Promise<void>(resolve => (finish = resolve));
  const services = createServices();
  const core = new KernelCore({
    handler: new CellRunner(services, { kernelId }),
    send: (channel, message) => server.send(channel, message),
    session: newSession(),
    implementationVersion: Private.version(),
    log,
    onShutdown: () => finish()
  });
  await server.start(
    (channel, message) => void core.handleMessage(channel, message)
  );
  // interrupt_mode is "message", but a SIGINT (terminal, signal-mode clients) means the same.
  process.on('SIGINT', () => core.interrupt());
  process.on('SIGTERM', () => void services.dispose?.().finally(finish));
  // A bug in one request must not take the kernel (and every running cell) down.
  process.on('unhandledRejection', err =>
    log(`unhandled rejection: ${Private.describe(err)}`)
  );
  process.on('uncaughtException', err =>
    log(`uncaught exception: ${Private.describe(err)}`)
  );
  Private.watchParent(() => void services.dispose?.().finally(finish));
  await finished;
  await server.close();
  return 0;
}

namespace Private {
  export function describe(err: unknown): string {
    return err instanceof Error ? (err.stack ?? err.message) : String(err);
  }

  /** Like ipykernel: exit when the process that started us (JPY_PARENT_PID) is gone. */
  export function watchParent(onGone: () => void): void {
    const pid = Number(process.env.JPY_PARENT_PID);
    if (!Number.isInteger(pid) || pid <= 1) {
      return;
    }
    const timer = setInterval(() => {
      try {
        process.kill(pid, 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
          clearInterval(timer);
          onGone();
        }
      }
    }, 2000);
    timer.unref();
  }

  export function version(): string {
    try {
      const pkg = JSON.parse(
        fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')
      );
      return String(pkg.version);
    } catch {
      return '0.0.0';
    }
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    code => process.exit(code),
    err => {
      process.stderr.write(`${(err as Error).stack ?? err}\n`);
      process.exit(1);
    }
  );
}
