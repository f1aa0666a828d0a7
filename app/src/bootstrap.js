// Entry point of the embedded JupyterLab (a Module Federation host).
//
// Order matters: prebuilt (federated) labextensions must register their
// containers in the shared scope BEFORE any core package is imported, so that
// webpack can pick one copy of every shared singleton for the host and all
// extensions. Hence this file has no static imports.

/* global __webpack_init_sharing__, __webpack_share_scopes__ */

const configData = (() => {
  const el = document.getElementById('jupyter-config-data');
  return el ? JSON.parse(el.textContent || '{}') : {};
})();

// Chunks and assets are served by jupyter_server under the app's static URL.
// eslint-disable-next-line no-undef
__webpack_public_path__ = `${configData.fullStaticUrl || ''}/`;

function loadScript(url) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.onerror = () => reject(new Error(`Failed to load ${url}`));
    script.onload = resolve;
    script.async = true;
    script.src = url;
    document.head.appendChild(script);
  });
}

async function loadRemote(url, scope) {
  await loadScript(url);
  await __webpack_init_sharing__('default');
  const container = window._JUPYTERLAB[scope];
  // The container provides its own shared modules and consumes ours.
  await container.init(__webpack_share_scopes__.default);
}

void (async function bootstrap() {
  const federated = configData.federated_extensions || [];
  const base = configData.fullLabextensionsUrl;
  const results = await Promise.allSettled(
    federated.map(ext =>
      loadRemote(`${base}/${ext.name}/${ext.load}`, ext.name)
    )
  );
  results.forEach(r => {
    if (r.status === 'rejected') {
      console.error(r.reason);
    }
  });
  const { main } = await import('./main.js');
  if (document.readyState === 'complete') {
    void main();
  } else {
    window.addEventListener('load', () => void main());
  }
})();
