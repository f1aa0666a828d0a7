import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { insideTarget, walkProject } from './syncWalk';

describe('--sync walk', () => {
  let root: string;
  let outside: string;
  const write = (rel: string, text = 'x') => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };

  beforeEach(() => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-walk-'));
    root = path.join(tmp, 'proj');
    outside = path.join(tmp, 'secret');
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
  });

  afterEach(() => {
    fs.rmSync(path.dirname(root), { recursive: true, force: true });
  });

  it('lists files and folders, ignore rules and environments left out', () => {
    write('mymodule.py');
    write('pkg/__init__.py');
    write('pkg/__pycache__/m.cpython-311.pyc');
    write('.gitignore', 'results/\n*.log\n!keep.log\n');
    write('results/big.csv');
    write('a.log');
    write('keep.log');
    write('sub/.gitignore', 'local.txt\n');
    write('sub/local.txt');
    write('local.txt');
    write('.git/HEAD');
    write('env/pyvenv.cfg');
    write('env/lib/site.py');
    write('conda/conda-meta/history');
    write('bad\nname.py');
    const walked = walkProject(root);
    expect(walked.odd).toEqual([JSON.stringify('bad\nname.py')]);
    expect(walked.entries.map(e => `${e.kind} ${e.path}`)).toEqual([
      'f .gitignore',
      'f keep.log',
      'f local.txt',
      'f mymodule.py',
      'd pkg',
      'f pkg/__init__.py',
      'd sub',
      'f sub/.gitignore'
    ]);
    const file = walked.entries.find(e => e.path === 'mymodule.py')!;
    const st = fs.statSync(path.join(root, 'mymodule.py'), { bigint: true });
    expect(file).toMatchObject({
      size: 1,
      mtimeNs: st.mtimeNs.toString(),
      ino: st.ino.toString()
    });
  });

  it('keeps links inside the tree as links and skips those that lead out', () => {
    write('pkg/real.py');
    fs.symlinkSync('pkg/real.py', path.join(root, 'alias.py'));
    fs.symlinkSync(path.join(root, 'pkg'), path.join(root, 'abs-pkg'));
    fs.symlinkSync('../secret', path.join(root, 'escape'));
    fs.symlinkSync(outside, path.join(root, 'abs-escape'));
    fs.symlinkSync('../../secret', path.join(root, 'pkg', 'deep-escape'));
    const walked = walkProject(root);
    const links = walked.entries.filter(e => e.kind === 'l');
    expect(links.map(e => [e.path, e.target])).toEqual([
      ['abs-pkg', 'pkg'],
      ['alias.py', 'pkg/real.py']
    ]);
    expect(walked.outside.sort()).toEqual([
      `abs-escape -> ${outside}`,
      'escape -> ../secret',
      'pkg/deep-escape -> ../../secret'
    ]);
    // Nothing of the outside folder was listed (links are never followed).
    fs.writeFileSync(path.join(outside, 'key'), 'k');
    expect(walkProject(root).entries.some(e => e.path.includes('key'))).toBe(
      false
    );
  });

  it('resolves link targets lexically', () => {
    expect(insideTarget('/p', 'a/b/l', '../c')).toBe('../c');
    expect(insideTarget('/p', 'a/l', '../../x')).toBeUndefined();
    expect(insideTarget('/p', 'l', '.')).toBeUndefined();
    expect(insideTarget('/p', 'a/l', '/p/a/x')).toBe('x');
    expect(insideTarget('/p', 'a/l', '/other/x')).toBeUndefined();
  });
});
