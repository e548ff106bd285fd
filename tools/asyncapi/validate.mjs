// Validates AsyncAPI documents with the official AsyncAPI parser: the schema of the specification plus
// its recommended rules. Usage: node validate.mjs [--json] FILE...
// Exit status: 0 when every file is valid (warnings allowed), 1 when one is not, 2 on a usage error.
import { readFile } from 'node:fs/promises';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

const args = process.argv.slice(2);
const json = args.includes('--json');
const files = args.filter((arg) => arg !== '--json');
if (files.length === 0) {
  console.error('usage: node validate.mjs [--json] FILE...');
  process.exit(2);
}

const parser = new Parser();
const reports = [];
for (const file of files) {
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    console.error(`${file}: cannot read: ${error.message}`);
    process.exit(2);
  }
  const { document, diagnostics } = await parser.parse(text, { source: file });
  const problems = diagnostics.map((d) => ({
    severity: SEVERITY[d.severity] ?? String(d.severity),
    code: String(d.code),
    path: d.path.join('/'),
    message: d.message,
  }));
  const errors = problems.filter((p) => p.severity === 'error');
  reports.push({ file, valid: document !== undefined && errors.length === 0, version: document?.version(), problems });
}

if (json) {
  console.log(JSON.stringify(reports, null, 2));
} else {
  for (const report of reports) {
    for (const p of report.problems) {
      console.log(`${report.file}: ${p.severity} ${p.code} at /${p.path}: ${p.message}`);
    }
    const counts = ['error', 'warning'].map((s) => `${report.problems.filter((p) => p.severity === s).length} ${s}s`);
    console.log(`${report.file}: ${report.valid ? 'valid' : 'INVALID'} (AsyncAPI ${report.version ?? '?'}; ${counts.join(', ')})`);
  }
}
process.exit(reports.every((r) => r.valid) ? 0 : 1);
