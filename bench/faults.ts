/**
 * bench/faults.ts: connection drops in the middle of a cell's output, on the
 * real sshd. Each of CELLS cells prints LINES numbered lines (paced, about a
 * second per cell); when the cell has shown a given number of lines (spread
 * over the run), the sshd processes serving the bridge's connection are
 * killed (SIGKILL, found by port with `ss`), as when a login node drops a
 * connection. The bridge reconnects and resumes from its offset; afterwards
 * every cell's output is checked: numbers lost, numbers duplicated, stray
 * lines. Goal: 0 and 0.
 *
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/faults.js [--quick]
 */
import * as fs from 'fs';
import * as path from 'path';

import {
  benchManager,
  ROOT,
  sshdCluster,
  sshdServing,
  sshdService,
  TextSink,
  writeResult
} from './support';

const QUICK = process.argv.includes('--quick');
const CELLS = QUICK ? 5 : 20;
const LINES = 10_000;

interface ICellResult {
  cell: number;
  status: string;
  dropAtLine: number | null;
  killed: number;
  lost: number;
  duplicated: number;
  stray: number;
  seconds: number;
  errors: string[];
}

/** Lines lost, duplicated and not a number of the sequence, in printed text. */
function check(text: string): {
  lost: number;
  duplicated: number;
  stray: number;
} {
  const seen = new Array<number>(LINES).fill(0);
  let stray = 0;
  for (const line of text.split('\n')) {
    if (line === '') {
      continue;
    }
    const n = /^\d+$/.test(line) ? Number(line) : -1;
    if (n >= 0 && n < LINES) {
      seen[n]++;
    } else {
      stray++;
    }
  }
  return {
    lost: seen.filter(c => c === 0).length,
    duplicated: seen.reduce((sum, c) => sum + Math.max(0, c - 1), 0),
    stray
  };
}

async function main(): Promise<void> {
  const facts = sshdService();
  const port = Number(facts.SSHD_PORT);
  const dir = fs.mkdtempSync(path.join(ROOT, '.cache', 'bench-faults-'));
  const remoteWork = `~/.cb-bench-faults-${process.pid}`;
  const manager = benchManager(dir, { ssh: sshdCluster(facts, remoteWork) });
  // Paced so that a drop lands while the cell is still printing.
  const code = [
    'import sys, time',
    `for i in range(${LINES}):`,
    '    print(i)',
    '    if i % 200 == 199:',
    '        sys.stdout.flush()',
    '        time.sleep(0.02)'
  ].join('\n');
  const results: ICellResult[] = [];
  try {
    // A first cell builds the remote environment; it is not one of the measured ones.
    await manager.runCell({
      request: { cluster: 'ssh' },
      code: 'pass',
      lineOffset: 1,
      sink: new TextSink()
    });
    for (let cell = 1; cell <= CELLS; cell++) {
      const sink = new TextSink();
      // Spread the drops over the output: from line ~500 to ~9,500.
      const dropAt = Math.round(
        500 + ((cell - 1) * 9000) / Math.max(1, CELLS - 1)
      );
      let dropAtLine: number | null = null;
      let killed = 0;
      sink.onLines = lines => {
        if (dropAtLine === null && lines >= dropAt) {
          dropAtLine = lines;
          for (const pid of sshdServing(process.pid, port)) {
            try {
              process.kill(pid, 'SIGKILL');
              killed++;
            } catch {
              // gone already
            }
          }
        }
      };
      const t0 = performance.now();
      const outcome = await manager.runCell({
        request: { cluster: 'ssh' },
        code,
        lineOffset: 1,
        sink
      });
      const counts = check(sink.stdout);
      results.push({
        cell,
        status: outcome.status,
        dropAtLine,
        killed,
        ...counts,
        seconds: Math.round(performance.now() - t0) / 1000,
        errors: sink.errors
      });
      process.stderr.write(
        `cell ${cell}: ${outcome.status}, drop at line ${dropAtLine} (${killed} sshd processes killed), lost ${counts.lost}, duplicated ${counts.duplicated}, stray ${counts.stray}\n`
      );
    }
  } finally {
    await manager.dispose();
    fs.rmSync(path.join(facts.SSHD_HOME, remoteWork.slice(2)), {
      recursive: true,
      force: true
    });
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const drops = results.filter(r => r.dropAtLine !== null && r.killed > 0);
  const sum = (key: 'lost' | 'duplicated' | 'stray') =>
    results.reduce((s, r) => s + r[key], 0);
  const summary = {
    cells: results.length,
    linesPerCell: LINES,
    dropsInjected: drops.length,
    cellsOk: results.filter(r => r.status === 'ok').length,
    linesLost: sum('lost'),
    linesDuplicated: sum('duplicated'),
    strayLines: sum('stray')
  };
  console.log(
    [
      `| connection drops mid-output (real sshd) | value |`,
      `|---|---:|`,
      `| cells of ${LINES} numbered lines | ${summary.cells} |`,
      `| drops injected (sshd session killed mid-output) | ${summary.dropsInjected} |`,
      `| cells ending ok | ${summary.cellsOk} |`,
      `| lines lost | ${summary.linesLost} |`,
      `| lines duplicated | ${summary.linesDuplicated} |`,
      `| stray lines | ${summary.strayLines} |`
    ].join('\n')
  );
  writeResult('faults', { quick: QUICK, summary, cells: results });
  if (summary.linesLost || summary.linesDuplicated || summary.strayLines) {
    process.exitCode = 1;
  }
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
