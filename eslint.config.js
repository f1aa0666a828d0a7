// ESLint 9 flat config in the JupyterLab house style (formatting is Prettier's job: `npm run lint`
// runs prettier --check separately). The local rule boundaries/worlds keeps the three worlds of src/
// apart: see docs/architecture.md, "Three worlds in src/".
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const prettierConfig = require('eslint-config-prettier');
const globals = require('globals');

const path = require('path');
const { isBuiltin } = require('module');

const SRC = path.join(__dirname, 'src');
const NODE_ONLY_PACKAGES = ['ssh2', 'zeromq', 'ssh-config'];

/**
 * `boundaries/worlds`: keeps the three worlds of src/ apart. Relative imports are resolved against
 * the importing file, so src/frontend/bridge/ (the frontend's own client of the bridge kernel) is
 * not mistaken for src/bridge/.
 */
const boundaries = {
  rules: {
    worlds: {
      meta: {
        type: 'problem',
        docs: { description: 'Import boundaries between src/ worlds' },
        schema: []
      },
      create(context) {
        const file = context.filename;
        const world = Private.worldOf(file);
        if (!['frontend', 'bridge', 'shared'].includes(world)) {
          return {};
        }
        const check = (node, source) => {
          if (typeof source !== 'string') {
            return;
          }
          const problem = Private.problem(world, file, source);
          if (problem) {
            context.report({ node, message: `'${source}': ${problem}` });
          }
        };
        const fromSource = node => {
          if (node.source && node.source.type === 'Literal') {
            check(node.source, node.source.value);
          }
        };
        return {
          ImportDeclaration: fromSource,
          ExportNamedDeclaration: fromSource,
          ExportAllDeclaration: fromSource,
          ImportExpression: fromSource,
          TSImportEqualsDeclaration(node) {
            const ref = node.moduleReference;
            if (ref.type === 'TSExternalModuleReference') {
              check(ref.expression, ref.expression.value);
            }
          },
          CallExpression(node) {
            const [arg] = node.arguments;
            if (
              node.callee.type === 'Identifier' &&
              node.callee.name === 'require' &&
              arg &&
              arg.type === 'Literal'
            ) {
              check(arg, arg.value);
            }
          }
        };
      }
    }
  }
};

const Private = {
  /** The src/ world a file belongs to ('frontend', 'bridge', 'shared', ...), or '' outside src/. */
  worldOf(file) {
    const rel = path.relative(SRC, file);
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      return '';
    }
    return rel.split(path.sep)[0];
  },

  /** Why `source` may not be imported from a file of `world`, or '' when it may. */
  problem(world, file, source) {
    const relative = source.startsWith('.');
    const target = relative
      ? Private.worldOf(path.resolve(path.dirname(file), source))
      : null;
    const bare = relative ? '' : source.replace(/^node:/, '');
    const pkg = bare.startsWith('@')
      ? bare.split('/').slice(0, 2).join('/')
      : bare.split('/')[0];
    switch (world) {
      case 'frontend':
        if (target === 'bridge') {
          return 'src/frontend may not import bridge code; put shared types in src/shared.';
        }
        if (
          !relative &&
          (source.startsWith('node:') ||
            isBuiltin(bare) ||
            NODE_ONLY_PACKAGES.includes(pkg))
        ) {
          return 'src/frontend runs in the browser: no Node modules.';
        }
        return '';
      case 'bridge':
        if (target === 'frontend') {
          return 'src/bridge may not import frontend code; put shared types in src/shared.';
        }
        if (pkg.startsWith('@jupyterlab/') || pkg.startsWith('@lumino/')) {
          return 'src/bridge runs in Node: no @jupyterlab/* or @lumino/*.';
        }
        return '';
      case 'shared':
        if (target !== 'shared') {
          return 'src/shared may import only from src/shared.';
        }
        return '';
      default:
        return '';
    }
  }
};

module.exports = tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      'lib/**',
      'labextension/**',
      'app/build/**',
      'bench/build/**',
      'coverage/**',
      '.cache/**',
      '.jupyter-data/**',
      'test-results/**',
      'playwright-report/**',
      'ui-tests/artifacts/**',
      'artifacts/**',
      'src/runtime/**'
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // Before our rules: it turns off formatting rules, and we want `curly` back on.
  prettierConfig,
  {
    languageOptions: {
      globals: { ...globals.node }
    },
    rules: {
      curly: ['error', 'all'],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'prefer-arrow-callback': 'error',
      'no-var': 'error',
      'prefer-const': 'error',
      'no-console': 'off',
      // Terminal output (ANSI escapes, control bytes) is data here: such regexes are on purpose.
      'no-control-regex': 'off',
      '@typescript-eslint/naming-convention': [
        'error',
        {
          selector: 'interface',
          format: ['PascalCase'],
          custom: { regex: '^I[A-Z]', match: true }
        }
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { args: 'none', varsIgnorePattern: '^_', caughtErrors: 'none' }
      ],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-use-before-define': 'off'
    }
  },
  {
    files: ['src/**/*.{ts,tsx}'],
    plugins: { boundaries },
    rules: { 'boundaries/worlds': 'error' }
  },
  {
    // Code that runs in the browser.
    files: [
      'src/frontend/**/*.{ts,tsx}',
      'app/src/**/*.{js,ts}',
      'style/**/*.js'
    ],
    languageOptions: { globals: { ...globals.browser } }
  },
  {
    files: ['**/*.spec.ts', '**/*.spec.tsx', 'tests/**/*.ts'],
    languageOptions: { globals: { ...globals.jest } },
    // Tests may load modules late (jest.isolateModules, fresh module state).
    rules: { '@typescript-eslint/no-require-imports': 'off' }
  },
  {
    files: ['**/*.cjs', 'bin/cluster-bridge'],
    languageOptions: { sourceType: 'commonjs' }
  },
  {
    // Plain JavaScript (configs, app/, bin/) is CommonJS for Node.
    files: ['**/*.js', '**/*.cjs', 'bin/cluster-bridge'],
    rules: { '@typescript-eslint/no-require-imports': 'off' }
  }
);
