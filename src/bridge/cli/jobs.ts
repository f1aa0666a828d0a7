/**
 * `cluster-bridge jobs [list] [--json] | attach ID | cancel ID`: the remote
 * jobs the job store knows, as `%cluster jobs/attach/cancel` show them.
 * Ctrl-C during `attach` detaches (the job keeps running); connecting may
 * ask for a passphrase or a host key on the terminal.
 */
import { createServices } from '../kernel/services';
import { jobTable } from '../kernel/textTables';
import { terminalPrompter, terminalSink } from './terminal';

const USAGE =
  'usage: cluster-bridge jobs [list] [--json] | attach ID | cancel ID';

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter(a => a !== '--json');
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [command = 'list', id, ...extra] = args;
  if (
    extra.length > 0 ||
    (command === 'list' && id) ||
    (command !== 'list' && !id)
  ) {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  const services = createServices();
  try {
    switch (command) {
      case 'list': {
        const jobs = services.jobs.jobs();
        process.stdout.write(
          (json ? JSON.stringify(jobs, null, 2) : jobTable(jobs)) + '\n'
        );
        return 0;
      }
      case 'attach': {
        const controller = new AbortController();
        const onSigint = () => controller.abort();
        process.on('SIGINT', onSigint);
        try {
          const sink = terminalSink();
          const outcome = await services.jobs.attach(
            id,
            sink,
            controller.signal,
            terminalPrompter()
          );
          return outcome.status === 'ok' && sink.errors === 0 ? 0 : 1;
        } finally {
          process.removeListener('SIGINT', onSigint);
        }
      }
      case 'cancel':
        await services.jobs.cancel(id, terminalPrompter());
        process.stdout.write(`Cancelled job ${id}\n`);
        return 0;
      default:
        process.stderr.write(
          `unknown jobs command ${JSON.stringify(command)}\n${USAGE}\n`
        );
        return 2;
    }
  } catch (err) {
    process.stderr.write(`cluster-bridge jobs: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await services.dispose?.();
  }
}
