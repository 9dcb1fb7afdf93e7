#!/usr/bin/env node
// Parses every .tf file under terraform/ with HashiCorp's own HCL parser and checks that each is formatted
// as HashiCorp's hclwrite formats it (what `terraform fmt` applies), both compiled to WebAssembly in the npm
// packages @cdktf/hcl2json and @cdktf/hcl-tools (installed by setup-venvs.sh into .venv/node).
//
// Usage: node tools/checks/hcl_native.js [--write] [DIR]
//   --write  rewrite unformatted files instead of failing on them
"use strict";

const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const ROOT = path.resolve(__dirname, "..", "..");
const nodeEnv = createRequire(path.join(ROOT, ".venv", "node", "package.json"));
const { parse } = nodeEnv("@cdktf/hcl2json");
const { format } = nodeEnv("@cdktf/hcl-tools");

function tfFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tfFiles(full));
    else if (entry.name.endsWith(".tf") || entry.name.endsWith(".tftest.hcl")) out.push(full);
  }
  return out.sort();
}

function firstDifference(a, b) {
  const left = a.split("\n");
  const right = b.split("\n");
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    if (left[i] !== right[i]) {
      return `line ${i + 1}:\n    is:     ${JSON.stringify(left[i])}\n    wanted: ${JSON.stringify(right[i])}`;
    }
  }
  return "";
}

async function main() {
  const args = process.argv.slice(2);
  const write = args.includes("--write");
  const dir = path.resolve(args.find((a) => !a.startsWith("--")) || path.join(ROOT, "terraform"));
  const files = tfFiles(dir);
  let problems = 0;
  for (const file of files) {
    const name = path.relative(ROOT, file);
    const source = fs.readFileSync(file, "utf8");
    try {
      await parse(name, source);
    } catch (err) {
      problems++;
      console.log(`${name}: does not parse: ${String(err).slice(0, 2000)}`);
      continue;
    }
    const formatted = await format(source);
    if (formatted !== source) {
      if (write) {
        fs.writeFileSync(file, formatted);
        console.log(`${name}: reformatted`);
      } else {
        problems++;
        console.log(`${name}: not formatted (run node tools/checks/hcl_native.js --write), first difference at ${firstDifference(source, formatted)}`);
      }
    }
  }
  console.log(`hcl_native: ${files.length} files parsed by HashiCorp's HCL parser, ${problems} problems (parse or format)`);
  process.exit(problems || files.length === 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(`hcl_native: ${err}`);
  process.exit(1);
});
