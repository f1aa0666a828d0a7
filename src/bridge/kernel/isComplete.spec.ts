/**
 * is_complete agrees with IPython's TransformerManager.check_complete (what
 * ipykernel answers): the table below is checked against IPython itself
 * (Debian python3-ipython, a dependency of python3-ipykernel), so it cannot
 * drift from the reference, and against the bridge's isComplete.
 */
import { execFileSync } from 'child_process';
import { isComplete } from './assist';

type Case = [code: string, status: string, indent: number | null];

const CASES: Case[] = [
  ['', 'complete', null],
  ['print(1)', 'complete', null],
  ['print(1)\n', 'complete', null],
  ['x = 1\ny = 2', 'complete', null],
  ['x = [1,\n 2]', 'complete', null],
  ['x = {"a": 1,\n     "b": 2}', 'complete', null],
  ['x = f(1,\n      2,\n      3)', 'complete', null],
  ['x = (\n    1\n)', 'complete', null],
  ['x = """a\nb"""', 'complete', null],
  ['x = "a" \\\n    "b"', 'complete', null],
  ['s = "a # b"', 'complete', null],
  ['x = 1 # comment', 'complete', null],
  ['# only a comment', 'complete', null],
  ['   x = 1', 'complete', null],
  ['for i in range(3): print(i)', 'complete', null],
  ['from os import *', 'complete', null],
  ['x = ...', 'complete', null],
  ['x = 1,', 'complete', null],
  ['f"{x}"', 'complete', null],
  ['def f():\n    return 1\n\n', 'complete', null],
  ['if True:\n    x = 1\n', 'complete', null],
  ['if True:\n    x = [1,\n         2]\n', 'complete', null],
  ['@property\ndef f(self):\n    return 1\n', 'complete', null],
  ['for i in range(3):', 'incomplete', 4],
  ['def f():\n    return 1', 'incomplete', 4],
  ['def f(x):\n  x += 1', 'incomplete', 2],
  ['if x:\n    pass\nelse:\n    pass', 'incomplete', 4],
  ['try:\n    pass\nexcept:', 'incomplete', 4],
  ['if True:\n  if False:\n    x = 1', 'incomplete', 4],
  ['if True:\n    x = [1,\n         2]', 'incomplete', 9],
  ['lambda x:', 'incomplete', 4],
  ['print((1,', 'incomplete', 0],
  ['x = [\n  1,\n', 'incomplete', 2],
  ['x = (1  # comment )\n', 'incomplete', 0],
  ['print("""hello', 'incomplete', 0],
  ['def f():\n    """doc', 'incomplete', 4],
  ['x = 1 + \\', 'incomplete', 0],
  ['@decorator', 'incomplete', 0],
  [')', 'invalid', null],
  ['x = [1, 2)', 'invalid', null],
  ['x = [1, 2]]', 'invalid', null],
  ['s = "abc', 'invalid', null],
  ['import = 7', 'invalid', null],
  ['a = 1\n  b = 2', 'invalid', null],
  ['if True:\n    pass\n  x = 1', 'invalid', null],
  ['x = 1 +', 'invalid', null],
  ['a = b = ', 'invalid', null],
  ['x = 1 if y else', 'invalid', null],
  ['x.', 'invalid', null],
  ['return 1', 'invalid', null],
  ['%cluster list', 'complete', null],
  ['%%cluster local\nprint(1)\n\n', 'complete', null],
  ['%%cluster local', 'incomplete', 0],
  ['%%cluster local\nprint(1)', 'incomplete', 0],
  ['%%cluster local\n    x = 1\n', 'incomplete', 4]
];

describe('isComplete', () => {
  it('the table is what IPython check_complete answers', () => {
    const script = [
      'import json, sys',
      'from IPython.core.inputtransformer2 import TransformerManager',
      'tm = TransformerManager()',
      'print(json.dumps([list(tm.check_complete(c)) for c in json.load(sys.stdin)]))'
    ].join('\n');
    const out = execFileSync('/usr/bin/python3', ['-c', script], {
      input: JSON.stringify(CASES.map(c => c[0])),
      encoding: 'utf8'
    });
    const reference = JSON.parse(out) as [string, number | null][];
    expect(CASES.map((c, i) => [c[0], ...reference[i]])).toEqual(CASES);
  });

  it.each(CASES)('%j is %s (indent %p)', (code, status, indent) => {
    const r = isComplete(code);
    expect(r.status).toBe(status);
    expect(r.indent).toBe(indent === null ? undefined : ' '.repeat(indent));
  });
});
