import { NotebookModel } from '@jupyterlab/notebook';
import { highestRemoteCount, promptText, RemoteCounter } from './prompts';

describe('promptText', () => {
  it('shows remote counts as rN and leaves the rest as JupyterLab does', () => {
    expect(promptText(3, false, true)).toBe('r3');
    expect(promptText(3, false, false)).toBe('3');
    expect(promptText(3, true, true)).toBe('*');
    expect(promptText(null, false, true)).toBe('');
    expect(promptText(null, false, false)).toBe('');
  });
});

describe('RemoteCounter', () => {
  // yjs warns about cell models built before their document is attached: noise.
  beforeAll(() => jest.spyOn(console, 'warn').mockImplementation(() => 0));
  afterAll(() => jest.restoreAllMocks());

  function notebookOf(cells: [string, number | null][]): NotebookModel {
    const notebook = new NotebookModel();
    cells.forEach(([source, count], i) => {
      notebook.sharedModel.insertCell(i, {
        cell_type: 'code',
        source,
        execution_count: count
      });
    });
    return notebook;
  }

  it('counts after the highest remote count, whatever the local ones are', () => {
    const notebook = notebookOf([
      ['x = 1', 12],
      ['%%cluster local\nx', 2],
      ['%%cluster\ny', 5],
      ['%cluster jobs', 3],
      ['%%cluster local\nnot run yet', null]
    ]);
    expect(highestRemoteCount(notebook, 'python3')).toBe(5);
    expect(new RemoteCounter().next(notebook, 'python3')).toBe(6);
  });

  it('gives cells that run side by side their own counts, per notebook', () => {
    const counter = new RemoteCounter();
    const a = notebookOf([['%%cluster local\nx', 2]]);
    const b = notebookOf([]);
    expect(counter.next(a, 'python3')).toBe(3);
    expect(counter.next(a, 'python3')).toBe(4);
    expect(counter.next(b, 'python3')).toBe(1);
    expect(counter.next(a, 'python3')).toBe(5);
  });

  it('starts at 1 in a notebook with no remote count', () => {
    const counter = new RemoteCounter();
    expect(counter.next(notebookOf([['x = 1', 4]]), 'python3')).toBe(1);
    expect(counter.next(notebookOf([]), 'python3')).toBe(1);
  });

  it('has no remote cells in a Cluster Bridge notebook (its kernel counts)', () => {
    const notebook = notebookOf([['%%cluster local\nx', 9]]);
    expect(highestRemoteCount(notebook, 'cluster-bridge')).toBe(0);
  });
});
