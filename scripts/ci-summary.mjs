// Prints "N passed, N failed" from vitest's JSON report: the last line of a CI log.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.vitest-report.json';
try {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`);
} catch (err) {
  console.log(`0 passed, 0 failed (no test report: ${err instanceof Error ? err.message : String(err)})`);
}
