/**
 * nbclient (Debian python3-nbclient) executes a whole notebook whose kernel is
 * Cluster Bridge: line magics, plain code on the default (`local`) cluster,
 * a `%%cluster` cell with a matplotlib figure, and an expected error.
 */
import * as fs from 'fs';
import * as path from 'path';

import {
  HERE,
  IKernelEnv,
  kernelEnv,
  PYTHON,
  requirePython,
  run
} from './helpers';

const cell = (source: string, tags: string[] = []) => ({
  cell_type: 'code',
  execution_count: null,
  metadata: tags.length ? { tags } : {},
  outputs: [],
  source
});

/** nbformat stores multi-line strings as lists of lines. */
const str = (v: string | string[]) => (Array.isArray(v) ? v.join('') : v);

describe('nbclient', () => {
  let k: IKernelEnv;

  beforeAll(() => {
    requirePython(['nbclient', 'nbformat']);
    k = kernelEnv();
  });
  afterAll(() => k?.dispose());

  it('executes a notebook on the bridge kernel with the outputs in the cells', async () => {
    const notebook = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {
        kernelspec: {
          name: 'cluster-bridge',
          display_name: 'Cluster Bridge',
          language: 'python'
        }
      },
      cells: [
        cell('%cluster list'),
        cell('print("plain code on the default cluster")\n6 * 7'),
        cell(
          '%%cluster local --cpus 1 --fresh\n' +
            'import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as plt\n' +
            'plt.plot([1, 3, 2])\nplt.show()'
        ),
        cell('%%cluster local\nraise RuntimeError("expected failure")', [
          'raises-exception'
        ])
      ].map((c, i) => ({ ...c, id: `cell-${i}` }))
    };
    const input = path.join(k.dir, 'in.ipynb');
    fs.writeFileSync(input, JSON.stringify(notebook));
    const result = await run(
      PYTHON,
      [path.join(HERE, 'nbclient_run.py'), input],
      {
        env: k.env,
        timeoutMs: 300000
      }
    );
    if (result.code !== 0) {
      throw new Error(
        `nbclient failed (exit ${result.code}):\n${result.stderr}`
      );
    }
    const nb = JSON.parse(result.stdout);
    const [list, plain, plot, error] = nb.cells as {
      outputs: any[];
      execution_count: number;
    }[];

    expect(list.outputs[0].output_type).toBe('display_data');
    expect(str(list.outputs[0].data['text/plain'])).toMatch(/^\*\s+local/m);

    const stdout = plain.outputs.filter(
      o => o.output_type === 'stream' && o.name === 'stdout'
    );
    expect(stdout.map(o => str(o.text)).join('')).toBe(
      'plain code on the default cluster\n'
    );
    const value = plain.outputs.find(o => o.output_type === 'execute_result');
    expect(str(value.data['text/plain'])).toBe('42');
    expect(value.execution_count).toBe(plain.execution_count);
    // Only what the code produced, as with ipykernel: no status line (nbclient
    // opens no comm, and a direct run has no queue reason worth saving).
    expect(plain.outputs.map(o => o.output_type)).toEqual([
      'stream',
      'execute_result'
    ]);

    const png = plot.outputs.find(o => o.data?.['image/png']);
    expect(png).toBeDefined();
    expect(
      Buffer.from(str(png.data['image/png']), 'base64')
        .subarray(1, 4)
        .toString()
    ).toBe('PNG');

    const err = error.outputs.find(o => o.output_type === 'error');
    expect(err).toMatchObject({
      ename: 'RuntimeError',
      evalue: 'expected failure'
    });
    expect(err.traceback.join('\n')).toMatch(/line 2/);
  }, 320000);
});
