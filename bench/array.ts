/**
 * bench/array.ts: an `--array` cell of 16 trivial elements on the real
 * single-node SLURM (scripts/services/slurm.sh), cell submit to every element
 * done, against `sbatch --array=0-15 --wait` of the same trivial script, as
 * the same user over the same sshd, one run each (warm: the cell runs once
 * first so runtime, VENV1 and VENV2 are there).
 *
 * Prints a markdown table; writes bench/results/array.json.
 *
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/array.js
 */
import * as fs from 'fs';
import * as path from 'path';

import { ARRAY_MIME, type IArrayPayload } from '../src/shared/mime';
import type { IOutputSink } from '../src/bridge/jobs/types';
import { shellQuote } from '../src/bridge/util/quote';
import {
  benchManager,
  ROOT,
  serviceFacts,
  sshdCluster,
  writeResult
} from './support';

const ELEMENTS = 16;
const CODE = 'print("hi", seed)';

/** Keeps the newest array payload and any error. */
class ArraySink implements IOutputSink {
  payload?: IArrayPayload;
  errors: string[] = [];
  stream(): void {}
  display(data: { [mime: string]: unknown }): void {
    this._keep(data);
  }
  updateDisplay(data: { [mime: string]: unknown }): void {
    this._keep(data);
  }
  result(): void {}
  error(ename: string, evalue: string): void {
    this.errors.push(`${ename}: ${evalue}`);
  }
  private _keep(data: { [mime: string]: unknown }): void {
    if (data[ARRAY_MIME]) {
      this.payload = data[ARRAY_MIME] as IArrayPayload;
    }
  }
}

async function main(): Promise<void> {
  const sshd = serviceFacts('sshd');
  serviceFacts('slurm');
  const dir = fs.mkdtempSync(path.join(ROOT, '.cache', 'bench-array-'));
  const workDir = `~/.cb-bench-array-${process.pid}`;
  const manager = benchManager(dir, {
    slurm: { ...sshdCluster(sshd, workDir), scheduler: 'slurm' }
  });
  const request = (values: number[]) => ({
    cluster: 'slurm',
    array: { name: 'seed', values },
    fresh: true
  });
  const run = async (values: number[]) => {
    const sink = new ArraySink();
    const t0 = performance.now();
    const outcome = await manager.runCell({
      request: request(values),
      code: CODE,
      lineOffset: 1,
      sink
    });
    const ms = performance.now() - t0;
    const done = sink.payload?.elements.filter(e => e.state === 'done').length;
    if (outcome.status !== 'ok' || done !== values.length) {
      throw new Error(
        `array cell: ${outcome.status}, ${done} of ${values.length} done: ${sink.errors.join('; ')}`
      );
    }
    return ms;
  };
  try {
    process.stdout.write('warming up (runtime, VENV1, VENV2)...\n');
    await run([0, 1]);
    const values = Array.from({ length: ELEMENTS }, (_, i) => i);
    process.stdout.write(`--array seed=0-${ELEMENTS - 1} cell...\n`);
    const ours = await run(values);

    const open = await manager.open(manager.registry.resolve('slurm'));
    const floorDir = `${open.runtime.workDir}/bench-floor`;
    const script = `#!/bin/bash\n#SBATCH --array=0-${ELEMENTS - 1}\n#SBATCH -o /dev/null\npython3 -c 'import os; print("hi", os.environ["SLURM_ARRAY_TASK_ID"])'\n`;
    await open.transport.exec(
      `mkdir -p ${shellQuote(floorDir)} && cat > ${shellQuote(floorDir + '/floor.sh')}`,
      { stdin: script }
    );
    process.stdout.write(`sbatch --array=0-${ELEMENTS - 1} --wait...\n`);
    const t0 = performance.now();
    const r = await open.transport.exec(
      `cd ${shellQuote(floorDir)} && sbatch --wait --parsable floor.sh`
    );
    const floor = performance.now() - t0;
    if (r.code !== 0) {
      throw new Error(`sbatch --wait: exit ${r.code}: ${r.stderr}`);
    }
    const rows = [
      {
        what: `%%cluster --array seed=0-${ELEMENTS - 1}: submit to every element done`,
        ms: Math.round(ours)
      },
      {
        what: `floor: sbatch --array=0-${ELEMENTS - 1} --wait of python3 print`,
        ms: Math.round(floor)
      }
    ];
    process.stdout.write(
      '\n| what | ms (one run) |\n|---|---|\n' +
        rows.map(row => `| ${row.what} | ${row.ms} |`).join('\n') +
        `\n\nratio ours/floor: ${(ours / floor).toFixed(2)}\n`
    );
    const file = writeResult('array', {
      elements: ELEMENTS,
      rows,
      ratio: Math.round((ours / floor) * 100) / 100
    });
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    await manager.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
