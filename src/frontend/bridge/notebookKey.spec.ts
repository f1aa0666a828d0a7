import { notebookKey } from './notebookKey';

describe('notebookKey', () => {
  it("puts the server's root in front of the notebook's path", () => {
    expect(notebookKey('work/a.ipynb', '/home/u/project')).toBe(
      '/home/u/project/work/a.ipynb'
    );
    expect(notebookKey('a.ipynb', '/home/u/project/')).toBe(
      '/home/u/project/a.ipynb'
    );
    expect(notebookKey('a.ipynb', '~/other')).toBe('~/other/a.ipynb');
  });

  it('keeps the path alone without a known root, and nothing without a path', () => {
    expect(notebookKey('work/a.ipynb', '')).toBe('work/a.ipynb');
    expect(notebookKey('', '/home/u')).toBe('');
  });
});
