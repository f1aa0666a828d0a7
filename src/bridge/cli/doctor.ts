/**
 * `cluster-bridge doctor [NAME]`: the `%cluster doctor` checklist on the
 * terminal (connection, Python, venv, conda, scheduler, GPUs), one verdict per
 * line. Exit status 1 when a check failed.
 */
import { doctorReport, doctorVerdict } from '../../shared/doctor';
import { UnknownClusterError } from '../clusters/registry';
import { createServices } from '../kernel/services';
import { terminalPrompter } from './terminal';

const USAGE = 'usage: cluster-bridge doctor [NAME]';

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (argv.length > 1 || argv.some(a => a.startsWith('-'))) {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  const services = createServices();
  try {
    const cluster = services.clusters.resolve(argv[0]);
    if (!services.doctor) {
      process.stderr.write(
        'cluster-bridge doctor: not available in this build\n'
      );
      return 1;
    }
    const lines = await services.doctor(cluster, terminalPrompter());
    process.stdout.write(doctorReport(cluster.name, lines) + '\n');
    return doctorVerdict(lines).ready ? 0 : 1;
  } catch (err) {
    if (err instanceof UnknownClusterError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    process.stderr.write(`cluster-bridge doctor: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await services.dispose?.();
  }
}
