/** Small DOM building helper shared by the frontend's plain-DOM widgets. */

/** Appends a new `tag` element with `className` (and `text`, if given) to parent. */
export function appendElement(
  parent: HTMLElement,
  tag: string,
  className: string,
  text?: string
): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  parent.appendChild(node);
  return node;
}
