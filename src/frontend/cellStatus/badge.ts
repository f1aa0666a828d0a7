/**
 * The status badge of a cell: the live status of its remote job, shown under
 * the cell but not one of its outputs, so a saved notebook keeps only what
 * the code produced. It is the status renderer (renderers/status.ts) fed by
 * `cellStatus` comm pushes instead of by an output.
 */
import type { Cell } from '@jupyterlab/cells';
import { MimeModel } from '@jupyterlab/rendermime';
import type { PanelLayout } from '@lumino/widgets';
import { STATUS_MIME, type IStatusPayload } from '../../shared/mime';
import { StatusRenderer } from '../renderers/status';

export class CellStatusBadge extends StatusRenderer {
  constructor() {
    super({ mimeType: STATUS_MIME } as never);
    this.addClass('jp-ClusterBridge-cellStatus');
  }

  showStatus(payload: IStatusPayload): Promise<void> {
    return this.renderModel(
      new MimeModel({ data: { [STATUS_MIME]: payload as never } })
    );
  }
}

/** Shows the payload in the cell's badge, added below the cell on first use. */
export function showCellStatus(
  cell: Cell,
  payload: IStatusPayload
): CellStatusBadge {
  let badge = Private.badges.get(cell);
  if (!badge || badge.isDisposed) {
    badge = new CellStatusBadge();
    (cell.layout as PanelLayout).addWidget(badge);
    Private.badges.set(cell, badge);
  }
  void badge.showStatus(payload);
  return badge;
}

/** The cell's badge, if it has one. */
export function cellStatusBadge(cell: Cell): CellStatusBadge | undefined {
  const badge = Private.badges.get(cell);
  return badge && !badge.isDisposed ? badge : undefined;
}

namespace Private {
  export const badges = new WeakMap<Cell, CellStatusBadge>();
}
