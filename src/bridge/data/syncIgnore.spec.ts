import { gitGlob, IgnoreRules } from './syncIgnore';

describe('--sync ignore rules', () => {
  const rules = (text: string, base = '') =>
    IgnoreRules.defaults().add(base, text);

  it('leaves out the default excludes at any depth', () => {
    const r = IgnoreRules.defaults();
    expect(r.ignored('.git', true)).toBe(true);
    expect(r.ignored('src/__pycache__', true)).toBe(true);
    expect(r.ignored('a/b/mod.pyc', false)).toBe(true);
    expect(r.ignored('nb/.ipynb_checkpoints', true)).toBe(true);
    expect(r.ignored('web/node_modules', true)).toBe(true);
    expect(r.ignored('.venv', true)).toBe(true);
    expect(r.ignored('src/mod.py', false)).toBe(false);
  });

  it('reads comments, globs, folder-only and anchored lines', () => {
    const r = rules(
      '# a comment\n\n*.log\n/build\ndata/\ndocs/*.md\n**/tmp\nout/**\nx?.txt\n[ab]c.py\n'
    );
    expect(r.ignored('# a comment', false)).toBe(false);
    expect(r.ignored('deep/er/run.log', false)).toBe(true);
    expect(r.ignored('build', true)).toBe(true);
    expect(r.ignored('src/build', true)).toBe(false); // anchored to the root
    expect(r.ignored('data', true)).toBe(true);
    expect(r.ignored('data', false)).toBe(false); // dir/ matches folders only
    expect(r.ignored('src/data', true)).toBe(true);
    expect(r.ignored('docs/a.md', false)).toBe(true);
    expect(r.ignored('docs/sub/a.md', false)).toBe(false); // * stops at /
    expect(r.ignored('a/b/tmp', true)).toBe(true);
    expect(r.ignored('out/a/b.bin', false)).toBe(true);
    expect(r.ignored('x1.txt', false)).toBe(true);
    expect(r.ignored('x12.txt', false)).toBe(false);
    expect(r.ignored('bc.py', false)).toBe(true);
    expect(r.ignored('cc.py', false)).toBe(false);
  });

  it('lets a later negation bring a file back', () => {
    const r = rules('*.csv\n!keep.csv\n');
    expect(r.ignored('a.csv', false)).toBe(true);
    expect(r.ignored('sub/keep.csv', false)).toBe(false);
    expect(r.ignored('.git', true)).toBe(true);
  });

  it('applies a nested .gitignore below its own folder only', () => {
    const r = rules('*.tmp\n').add('sub', '/local.py\n!x.tmp\n');
    expect(r.ignored('sub/local.py', false)).toBe(true);
    expect(r.ignored('local.py', false)).toBe(false);
    expect(r.ignored('other/local.py', false)).toBe(false);
    expect(r.ignored('sub/x.tmp', false)).toBe(false);
    expect(r.ignored('x.tmp', false)).toBe(true);
  });

  it('escapes what is literal', () => {
    expect(gitGlob('a.b').test('axb')).toBe(false);
    expect(gitGlob('\\*.py').test('*.py')).toBe(true);
    expect(gitGlob('\\*.py').test('a.py')).toBe(false);
    expect(rules('\\#name\n').ignored('#name', false)).toBe(true);
    expect(rules('\\!bang\n').ignored('!bang', false)).toBe(true);
  });
});
