// Removes the `funding` links npm copies into package-lock.json (informational only: installing never
// reads them), so the committed lockfile holds no address at all; fails if any other address remains.
// Run after changing dependencies: npm install --package-lock-only && node strip-lock-urls.mjs
import { readFile, writeFile } from 'node:fs/promises';

const path = new URL('./package-lock.json', import.meta.url);
const lock = JSON.parse(await readFile(path, 'utf8'));
for (const entry of Object.values(lock.packages ?? {})) {
  delete entry.funding;
}
const text = `${JSON.stringify(lock, null, 2)}\n`;
const left = text.split('\n').filter((line) => line.includes('://') || line.includes('"resolved"'));
if (left.length > 0) {
  console.error(`package-lock.json still names addresses:\n${left.join('\n')}`);
  process.exit(1);
}
await writeFile(path, text);
console.log('package-lock.json: no addresses');
