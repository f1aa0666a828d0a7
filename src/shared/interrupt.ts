/**
 * Scoped interrupts. The frontend's `%%cluster` cells of every notebook and
 * browser tab share one bridge kernel, and a Jupyter interrupt names no
 * cell: an `interrupt_request` whose content names a notebook and/or cells
 * stops only the matching cells that the same client connection (message
 * header `session`) started. A plain interrupt (the REST interrupt, SIGINT, a
 * bridge-kernel notebook's stop button) stops every cell of the kernel.
 */
import { NOTEBOOK_METADATA_KEY } from './sessions';

/** The content of a scoped interrupt_request. */
export interface IInterruptScope {
  /** The notebook whose cells stop (its path, as the execute metadata NOTEBOOK_METADATA_KEY names it). */
  [NOTEBOOK_METADATA_KEY]?: string;
  /** Only these cells (execute metadata `cellId`). */
  cell_ids?: string[];
}

/** What the kernel knows of one running cell. */
export interface IRunningCell {
  /** Header `session` of its execute_request: the client connection that sent it. */
  session: string;
  notebook?: string;
  cellId?: string;
}

/** The scope an interrupt_request's content names; undefined for a plain (kernel-wide) interrupt. */
export function interruptScope(content: unknown): IInterruptScope | undefined {
  if (!content || typeof content !== 'object') {
    return undefined;
  }
  const c = content as { [key: string]: unknown };
  const notebook = c[NOTEBOOK_METADATA_KEY];
  const cells = c.cell_ids;
  const scope: IInterruptScope = {};
  if (typeof notebook === 'string') {
    scope[NOTEBOOK_METADATA_KEY] = notebook;
  }
  if (Array.isArray(cells)) {
    scope.cell_ids = cells.filter((id): id is string => typeof id === 'string');
  }
  return Object.keys(scope).length ? scope : undefined;
}

/** Whether a scoped interrupt sent on connection `session` stops this cell. */
export function interruptMatches(
  scope: IInterruptScope,
  session: string,
  cell: IRunningCell
): boolean {
  if (cell.session !== session) {
    return false;
  }
  const notebook = scope[NOTEBOOK_METADATA_KEY];
  const cells = scope.cell_ids;
  if (cells && !(cell.cellId !== undefined && cells.includes(cell.cellId))) {
    return false;
  }
  if (notebook === undefined || cell.notebook === notebook) {
    return true;
  }
  // A cell whose request named no notebook: the named cells decide.
  return cell.notebook === undefined && cells !== undefined;
}
