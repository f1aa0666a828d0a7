/**
 * `cluster-bridge clean NAME [--dry-run] [--json]`: the `%cluster clean`
 * retention from a terminal or a cron job (old job dirs, runtimes, unused
 * envs, --in/--out leftovers on the cluster). Exit status 1 when something
 * could not be removed.
 */
import { UnknownClusterError } from '../clusters/registry';
import { cleanReport } from '../kernel/clean';
import { createServices } from '../kernel/services';
import { terminalPrompter } from './terminal';

const USAGE = 'usage: cluster-bridge clean NAME [--dry-run] [--json]';

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const flags = argv.filter(a => a.startsWith('-'));
  const names = argv.filter(a => !a.startsWith('-'));
  const unknown = flags.filter(f => f !== '--dry-run' && f !== '--json');
  if (names.length !== 1 || unknown.length) {
    process.stderr.write(
      (unknown.length ? `unknown option ${unknown[0]}\n` : '') + USAGE + '\n'
    );
    return 2;
  }
  const services = createServices();
  try {
    const cluster = services.clusters.resolve(names[0]);
    if (!services.clean) {
      process.stderr.write(
        'cluster-bridge clean: not available in this build\n'
      );
      return 1;
    }
    const report = await services.clean(cluster, {
      dryRun: flags.includes('--dry-run'),
      prompter: terminalPrompter()
    });
    process.stdout.write(
      flags.includes('--json')
        ? JSON.stringify(report, null, 2) + '\n'
        : cleanReport(cluster.name, report, 'cluster-bridge clean')
    );
    return report.failed.length ||
      report.remove.some(i => !report.dryRun && !i.removed)
      ? 1
      : 0;
  } catch (err) {
    if (err instanceof UnknownClusterError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    process.stderr.write(`cluster-bridge clean: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await services.dispose?.();
  }
}
