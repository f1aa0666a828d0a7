/** The small action buttons of the Remote Jobs panel's rows. */
import { appendElement } from '../renderers/dom';

/** A minimal JupyterLab button whose label says what it acts on. */
export function appendButton(
  parent: HTMLElement,
  text: string,
  label: string
): HTMLButtonElement {
  const button = appendElement(
    parent,
    'button',
    'jp-Button jp-mod-styled jp-mod-minimal'
  ) as HTMLButtonElement;
  button.type = 'button';
  button.textContent = text;
  button.setAttribute('aria-label', label);
  button.title = label;
  return button;
}
