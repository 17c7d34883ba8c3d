// Lint: typescript-eslint's recommended rules plus the few house rules of STYLE.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "Property[key.name='rejectUnauthorized'][value.value=false]",
          message: 'the client always verifies the receiver (STYLE.md)',
        },
        {
          selector: "CallExpression[callee.name='setGlobalDispatcher']",
          message: 'pass one explicit undici Agent instead (STYLE.md)',
        },
      ],
    },
  },
  {
    // Only the entry points own the process (STYLE.md "main owns the process").
    files: ['src/**/*.ts'],
    ignores: ['src/cli/main.ts', 'src/receiver/main.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'only the entry point calls process.exit; return an exit code' },
      ],
    },
  },
);
