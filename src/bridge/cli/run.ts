/**
 * `cluster-bridge run --cluster NAME [options] FILE.py`: runs a file the way a
 * `%%cluster` cell runs (same JobManager), printing outputs as they come.
 * Options are those of the magic line (--gpus 1, --time=00:10:00, ...).
 * Exit status: 0 ok, 1 the code raised or the job failed, 2 usage, 130 interrupted.
 */
import * as fs from 'fs';

import { MagicError, parseJobArgs, usage } from '../../shared/magic';
import type { IJobRequest } from '../../shared/magic';
import { createServices } from '../kernel/services';
import { terminalPrompter, terminalSink } from './terminal';

const USAGE =
  'usage: cluster-bridge run [--cluster NAME] [magic options] FILE.py';

export async function main(argv: string[]): Promise<number> {
  let cluster: string | undefined;
  let file: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n\n${usage()}\n`);
      return 0;
    } else if (a === '--cluster' || a === '-c') {
      cluster = argv[++i];
    } else if (a.startsWith('--cluster=')) {
      cluster = a.slice('--cluster='.length);
    } else if (
      !a.startsWith('-') &&
      file === undefined &&
      !Private.takesValue(argv[i - 1])
    ) {
      file = a;
    } else {
      rest.push(a);
    }
  }
  if (!file) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let request: IJobRequest;
  try {
    request = parseJobArgs(cluster ? [cluster, ...rest] : rest);
  } catch (err) {
    if (err instanceof MagicError) {
      process.stderr.write(`cluster-bridge run: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  let code: string;
  try {
    code = fs.readFileSync(file, 'utf8');
  } catch (err) {
    process.stderr.write(
      `cluster-bridge run: cannot read ${file}: ${(err as Error).message}\n`
    );
    return 2;
  }
  const services = createServices();
  let name: string;
  try {
    name = services.clusters.resolve(request.cluster).name;
  } catch (err) {
    process.stderr.write(`cluster-bridge run: ${(err as Error).message}\n`);
    await services.dispose?.();
    return 2;
  }
  const controller = new AbortController();
  const onSigint = () => {
    process.stderr.write('\ninterrupting: cancelling the remote job...\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const sink = terminalSink();
  try {
    const outcome = await services.jobs.runCell({
      request: { ...request, cluster: name },
      code,
      lineOffset: 0,
      sink,
      prompter: terminalPrompter(),
      signal: controller.signal
    });
    if (outcome.status === 'aborted' || controller.signal.aborted) {
      return 130;
    }
    return outcome.status === 'ok' && sink.errors === 0 ? 0 : 1;
  } catch (err) {
    process.stderr.write(`cluster-bridge run: ${(err as Error).message}\n`);
    return controller.signal.aborted ? 130 : 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
    await services.dispose?.();
  }
}

namespace Private {
  /** Options of the magic that take a value: their value is not the file. */
  export function takesValue(previous: string | undefined): boolean {
    return (
      previous !== undefined &&
      /^--(gpus|cpus|mem|time|partition|account|qos|constraint|env|packages|scheduler|name)$/.test(
        previous
      )
    );
  }
}
