#!/usr/bin/env sh
# Installs Azurite where fake-cloud looks for it by default (fake-cloud/.azurite, gitignored).
# fake-cloud starts it itself when Options.azurite (or `fake-cloud --azurite`) asks for it.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$root/fake-cloud/.azurite/node_modules/azurite/dist/src/blob/main.js" ]; then
  echo "Azurite already installed in $root/fake-cloud/.azurite"
  exit 0
fi
npm install --no-audit --no-fund --prefix "$root/fake-cloud/.azurite" azurite@3.37.0
