import { CodeCell, CodeCellModel } from '@jupyterlab/cells';
import { NBTestUtils } from '@jupyterlab/cells/lib/testutils';
import { RenderMimeRegistry } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import type { IStatusPayload } from '../../shared/mime';
import { cellStatusBadge } from './badge';
import { CELL_METADATA_KEY, readCellJobId } from './cellJob';
import { CellStatusTracker } from './tracker';

function codeCell(): CodeCell {
  const cell = new CodeCell({
    model: new CodeCellModel(),
    rendermime: new RenderMimeRegistry(),
    contentFactory: NBTestUtils.createCodeCellFactory()
  }).initializeState();
  Widget.attach(cell, document.body);
  return cell;
}

const status = (patch: Partial<IStatusPayload> = {}): IStatusPayload => ({
  jobId: 'cb-mfz1-0a1b2c',
  cluster: 'local',
  phase: 'running',
  startedAt: Date.now(),
  ...patch
});

describe('CellStatusTracker', () => {
  let cell: CodeCell;
  let tracker: CellStatusTracker;

  beforeEach(() => {
    cell = codeCell();
    tracker = new CellStatusTracker(id =>
      id === cell.model.id ? cell : undefined
    );
  });
  afterEach(() => cell.dispose());

  it('shows the status under the cell, not among its outputs, and records the job id', () => {
    const push = { event: 'cellStatus', msgId: 'm1', cellId: cell.model.id };
    expect(tracker.handle({ ...push, status: status() })).toBe(true);
    const badge = cellStatusBadge(cell)!;
    expect(badge.node.textContent).toContain('Running on local');
    expect(cell.node.contains(badge.node)).toBe(true);
    expect(cell.outputArea.node.contains(badge.node)).toBe(false);
    expect(cell.model.outputs.length).toBe(0);
    expect(readCellJobId(cell.model)).toBe('cb-mfz1-0a1b2c');

    tracker.handle({
      ...push,
      status: status({ phase: 'done', endState: 'completed', endedAt: 1 })
    });
    expect(cellStatusBadge(cell)).toBe(badge);
    expect(badge.node.dataset.phase).toBe('done');
  });

  it('ignores pushes for other cells and malformed ones', () => {
    expect(
      tracker.handle({ event: 'cellStatus', cellId: 'other', status: status() })
    ).toBe(false);
    expect(tracker.handle({ event: 'jobs', jobs: [] })).toBe(false);
    expect(tracker.handle({ event: 'cellStatus', cellId: cell.model.id })).toBe(
      false
    );
    expect(cellStatusBadge(cell)).toBeUndefined();
  });

  it('reads back only a well-formed job id from metadata', () => {
    cell.model.setMetadata(CELL_METADATA_KEY, { jobId: 'x; rm -rf ~' });
    expect(readCellJobId(cell.model)).toBeUndefined();
    cell.model.setMetadata(CELL_METADATA_KEY, 'cb-1');
    expect(readCellJobId(cell.model)).toBeUndefined();
  });
});
