// A static check over src/: no shell is ever spawned, so no data (an episode id, a path, a
// status text) can be read as shell syntax. It reads the TypeScript syntax tree, not text,
// so RegExp#exec and comments do not confuse it.

import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/world.js';

/** Every module that may start a process, and what it starts (argv arrays only). */
const SPAWNERS: Record<string, string> = {
  'src/doctor/exec.ts': 'systemctl / journalctl for `shipper doctor`',
  'src/receiver/verify.ts': 'zstd -dc to check an upload',
  'src/systemd/notifier.ts': 'systemd-notify when the sd-notify module is missing',
};
const SHELL_FUNCTIONS = new Set(['exec', 'execSync']);
const PROCESS_FUNCTIONS = new Set(['spawn', 'spawnSync', 'execFile', 'execFileSync', 'fork', 'exec', 'execSync']);

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...(await sources(p)));
    else if (d.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

interface Finding {
  file: string;
  line: number;
  what: string;
}

function inspect(file: string, text: string): { imports: boolean; findings: Finding[] } {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const findings: Finding[] = [];
  const local = new Map<string, string>(); // local name → child_process export
  let namespace: string | null = null;
  let imports = false;
  const at = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart()).line + 1;
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    if (!/^(node:)?child_process$/.test(st.moduleSpecifier.text)) continue;
    imports = true;
    const b = st.importClause?.namedBindings;
    if (st.importClause?.name) namespace = st.importClause.name.text;
    if (b && ts.isNamespaceImport(b)) namespace = b.name.text;
    if (b && ts.isNamedImports(b)) for (const e of b.elements) local.set(e.name.text, (e.propertyName ?? e.name).text);
  }
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n)) {
      let fn: string | undefined;
      if (ts.isIdentifier(n.expression)) fn = local.get(n.expression.text);
      else if (ts.isPropertyAccessExpression(n.expression) && ts.isIdentifier(n.expression.expression) && n.expression.expression.text === namespace) fn = n.expression.name.text;
      if (fn && PROCESS_FUNCTIONS.has(fn)) {
        if (SHELL_FUNCTIONS.has(fn)) findings.push({ file, line: at(n), what: `${fn}() runs a shell` });
        const [cmd, args, opts] = n.arguments;
        if (cmd && (ts.isTemplateExpression(cmd) || (ts.isBinaryExpression(cmd) && cmd.operatorToken.kind === ts.SyntaxKind.PlusToken))) findings.push({ file, line: at(n), what: `${fn}() with a command built from a template or +` });
        if (args && !ts.isArrayLiteralExpression(args) && !ts.isIdentifier(args)) findings.push({ file, line: at(n), what: `${fn}() without an argv array` });
        for (const o of [args, opts]) {
          if (o && ts.isObjectLiteralExpression(o)) {
            for (const p of o.properties) {
              if (p.name && ts.isIdentifier(p.name) && p.name.text === 'shell' && !(ts.isPropertyAssignment(p) && p.initializer.kind === ts.SyntaxKind.FalseKeyword)) {
                findings.push({ file, line: at(p), what: `${fn}() with shell: ${p.getText()}` });
              }
            }
          }
        }
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return { imports, findings };
}

describe('no shell is ever spawned with data in its arguments', () => {
  it('src/ never calls exec/execSync or spawns with shell: true or a command built from a template; only the known modules start processes', async () => {
    const files = await sources(join(ROOT, 'src'));
    expect(files.length).toBeGreaterThan(50);
    const spawners: string[] = [];
    const findings: Finding[] = [];
    for (const f of files) {
      const r = inspect(relative(ROOT, f), await readFile(f, 'utf8'));
      if (r.imports) spawners.push(relative(ROOT, f));
      findings.push(...r.findings);
    }
    expect(findings).toEqual([]);
    expect(spawners.sort()).toEqual(Object.keys(SPAWNERS).sort());
  });

  it('the check itself finds a shell: exec(), spawn with shell: true, and a template-built command', () => {
    const bad = [
      "import { exec } from 'node:child_process'; exec(`tar -c ${id}`);",
      "import { spawn } from 'node:child_process'; spawn('tar', ['-c', id], { shell: true });",
      "import * as cp from 'child_process'; cp.execFile(`${dir}/zstd`, []);",
      "import { execFile as ef } from 'node:child_process'; ef('zstd', '-d ' + file);",
    ];
    for (const text of bad) expect(inspect('x.ts', text).findings.length, text).toBeGreaterThan(0);
    expect(inspect('x.ts', "import { execFile } from 'node:child_process'; execFile('zstd', ['-dc', file], {});").findings).toEqual([]);
    expect(inspect('x.ts', 'const m = /a(b)/.exec(text);').imports).toBe(false);
  });
});
