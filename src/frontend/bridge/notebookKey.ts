/**
 * The name a notebook's remote sessions go by: the notebook's path on the
 * Jupyter server's disk (server root + path). The bridge's session table is
 * shared by every Jupyter server of the user on this machine, so a relative
 * path alone would let `analysis.ipynb` of two servers share one namespace.
 */

/** `<serverRoot>/<path>`, or the path alone where the root is not known. */
export function notebookKey(path: string, serverRoot: string): string {
  if (!path) {
    return '';
  }
  const root = serverRoot.replace(/\/+$/, '');
  return root ? `${root}/${path}` : path;
}
