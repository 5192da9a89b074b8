#!/usr/bin/env bash
# Runs babycry_jax jobs on a Cloud TPU VM (every worker of a pod slice at once)
# or on this machine. `launch.sh --help` lists the subcommands; each has --help.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly REPO_ROOT
readonly PROG="launch.sh"
# Paths on every TPU worker, relative to the remote user's home directory.
readonly REMOTE_CODE_DIR="babycry_jax"
readonly REMOTE_VENV_DIR="babycry_jax_venv"
readonly REMOTE_LOG_DIR="babycry_jax_logs"
readonly REMOTE_TARBALL="babycry_jax_src.tar.gz"
# Characters that need no quoting in a POSIX shell word (as Python's shlex.quote).
readonly SAFE_WORD_RE='^[A-Za-z0-9_@%+=:,./-]+$'
readonly ENV_ASSIGNMENT_RE='^[A-Za-z_][A-Za-z0-9_]*='

GCLOUD="${GCLOUD:-gcloud}"
DRY_RUN=0
SUBCOMMAND=""

# ------------------------------------------------------------------ usage text

usage_main() {
  cat <<EOF
usage: $PROG [--dry-run] SUBCOMMAND [OPTIONS]

Run babycry_jax on a Cloud TPU VM (all workers of a pod slice) or locally.

TPU subcommands:
  create    create the TPU VM (directly, or through a queued resource)
  setup     copy this source tree to every worker and install it with jax[tpu]
  train     start training on every worker in the background (nohup, log per worker)
  logs      follow the training log of one worker (worker 0 by default)
  eval      run evaluation on worker 0 (in the foreground)
  stop      stop the training processes on every worker
  delete    delete the TPU VM (or the queued resource)
Local:
  local     run train | preprocess | eval | detect (or any command) on this machine

Global options:
  --dry-run   print every command, one per line and shell-quoted, instead of running it
  -h, --help  show this help; '$PROG SUBCOMMAND --help' shows a subcommand's options

Environment:
  GCLOUD                        gcloud binary (default: gcloud on PATH)
  BABYCRY_TPU_NAME              default for --name
  BABYCRY_TPU_ZONE              default for --zone
  BABYCRY_TPU_PROJECT           default for --project (else gcloud's configured project)
  BABYCRY_TPU_VERSION           default for create --version (TPU software version)
  BABYCRY_TPU_ACCELERATOR_TYPE  default for create --accelerator_type
  BABYCRY_TPU_PYTHON            Python on the workers that setup builds the venv from (python3)
  PYTHON                        Python for 'local' (default: python, else python3)

Typical run:
  $PROG create --name cry --zone us-central2-b --accelerator_type v4-32 --version tpu-ubuntu2204-base
  $PROG setup  --name cry --zone us-central2-b
  $PROG train  --name cry --zone us-central2-b --config configs/default.py \\
      --workdir gs://BUCKET/runs/r1 --dataset_dir gs://BUCKET/data/babycry --config.num_epochs=50
  $PROG logs   --name cry --zone us-central2-b
  $PROG eval   --name cry --zone us-central2-b --workdir gs://BUCKET/runs/r1
  $PROG stop   --name cry --zone us-central2-b
  $PROG delete --name cry --zone us-central2-b
EOF
}

readonly COMMON_OPTIONS_HELP="Common options:
  --name NAME        TPU VM name (env BABYCRY_TPU_NAME)
  --zone ZONE        zone, e.g. us-central2-b (env BABYCRY_TPU_ZONE)
  --project PROJECT  Google Cloud project (env BABYCRY_TPU_PROJECT; else gcloud's default)
  --dry-run          print the commands instead of running them
  -h, --help         show this help"

usage_create() {
  cat <<EOF
usage: $PROG create --name NAME --zone ZONE --accelerator_type TYPE --version VERSION
                    [--spot] [--queued] [--project PROJECT] [--dry-run]

Create a TPU VM, or with --queued a queued resource whose single node is called NAME
(so every other subcommand addresses it by NAME as well).

  --accelerator_type TYPE  e.g. v4-8, v4-32, v5litepod-16 (env BABYCRY_TPU_ACCELERATOR_TYPE)
  --version VERSION        TPU software version (runtime), e.g. tpu-ubuntu2204-base
                           (env BABYCRY_TPU_VERSION)
  --spot                   use Spot capacity (cheaper, can be preempted)
  --queued                 create through 'gcloud compute tpus queued-resources create'
$COMMON_OPTIONS_HELP
EOF
}

usage_setup() {
  cat <<EOF
usage: $PROG setup --name NAME --zone ZONE [--python PYTHON] [--project PROJECT] [--dry-run]

Pack this source tree (the files git would commit: tracked and untracked, not ignored;
without git: the tree minus .git, .venv, data/, runs/ and caches), copy it to every
worker as ~/$REMOTE_TARBALL, unpack it to ~/$REMOTE_CODE_DIR, and install it with
'pip install -e' plus jax[tpu] into the venv ~/$REMOTE_VENV_DIR. The jax[tpu] version is
the one pinned in setup.py. Run it again after changing the code.

  --python PYTHON  Python on the workers used to create the venv (env BABYCRY_TPU_PYTHON;
                   default python3). The pinned stack needs Python >= 3.11.
$COMMON_OPTIONS_HELP
EOF
}

usage_train() {
  cat <<EOF
usage: $PROG train --name NAME --zone ZONE --config CONFIG --workdir WORKDIR
                   [--dataset_dir DIR] [--env KEY=VALUE ...] [--config.FIELD=VALUE ...]
                   [--project PROJECT] [--dry-run] [-- TRAINER_FLAGS ...]

Start 'python -m babycry_jax.train --distributed' on every worker at once, in the
background (setsid + nohup), so it survives the ssh session. Each worker appends to
its own ~/$REMOTE_LOG_DIR/train.log and records the process in train.pid; a worker
where training is still running refuses to start a second one.

  --config CONFIG       config file, relative to the repository root (configs/X.py)
  --workdir WORKDIR     checkpoints and metrics; on a multi-host slice use gs://...
                        so every worker sees the same directory
  --dataset_dir DIR     shorthand for --config.dataset_dir=DIR (may be gs://...)
  --config.FIELD=VALUE  config overrides, passed through unchanged
  --env KEY=VALUE       environment variable for the trainer (repeatable)
  -- TRAINER_FLAGS      anything after -- goes to the trainer unchanged
$COMMON_OPTIONS_HELP
EOF
}

usage_logs() {
  cat <<EOF
usage: $PROG logs --name NAME --zone ZONE [--worker N] [--lines N] [--project PROJECT] [--dry-run]

Follow (tail -F) the training log of one worker. Ctrl-C stops following, not training.

  --worker N  worker index (default 0)
  --lines N   lines of history to show first (default 100)
$COMMON_OPTIONS_HELP
EOF
}

usage_eval() {
  cat <<EOF
usage: $PROG eval --name NAME --zone ZONE --workdir WORKDIR [--split SPLIT]
                  [--checkpoint best|latest|STEP] [--worker N] [--env KEY=VALUE ...]
                  [--project PROJECT] [--dry-run] [-- EVALUATE_FLAGS ...]

Run 'python -m babycry_jax.evaluate' on one worker (worker 0 by default) and wait for it.
On a multi-host slice a single worker cannot use the whole slice's TPU: pass e.g.
--env JAX_PLATFORMS=cpu, or the TPU_* variables that limit it to its own chips.

  --workdir WORKDIR  the training run's workdir
  --split SPLIT      dataset split to evaluate (the evaluator's default if omitted)
  --checkpoint C     best, latest or a step number
  --worker N         worker index (default 0)
  --env KEY=VALUE    environment variable for the evaluator (repeatable)
$COMMON_OPTIONS_HELP
EOF
}

usage_stop() {
  cat <<EOF
usage: $PROG stop --name NAME --zone ZONE [--grace_s SECONDS] [--project PROJECT] [--dry-run]

On every worker, send SIGTERM to the training process group recorded in
~/$REMOTE_LOG_DIR/train.pid (the trainer saves a checkpoint on SIGTERM), wait up to
--grace_s seconds (default 120), then SIGKILL what is left.
$COMMON_OPTIONS_HELP
EOF
}

usage_delete() {
  cat <<EOF
usage: $PROG delete --name NAME --zone ZONE [--queued] [--yes] [--project PROJECT] [--dry-run]

Delete the TPU VM, or with --queued the queued resource NAME together with its node.

  --queued  the TPU was made with 'create --queued'
  --yes     do not ask for confirmation (passes --quiet to gcloud)
$COMMON_OPTIONS_HELP
EOF
}

usage_local() {
  cat <<EOF
usage: $PROG [--dry-run] local JOB [ARGS ...]
       $PROG [--dry-run] local -- COMMAND [ARGS ...]

Run a job on this machine, from the current directory, with \$PYTHON (default: python,
else python3). ARGS go to the module unchanged, so 'local train --help' shows the
trainer's own flags. --dry-run may also appear among ARGS.

  train       python -m babycry_jax.train --config CONFIG --workdir WORKDIR [...]
              (multi-host: --coordinator_address HOST:PORT --num_processes N --process_id I)
  preprocess  python -m preprocess --input DIR --output DATASET_DIR [...]
  eval        python -m babycry_jax.evaluate --workdir WORKDIR [--split S] [--checkpoint C]
  detect      python -m babycry_jax.detect --workdir WORKDIR FILE ...
  -- COMMAND  run COMMAND as given
EOF
}

# ------------------------------------------------------------------ helpers

# Prints a usage error with the subcommand's usage line, exits 2.
die_usage() {
  local where="${SUBCOMMAND:+ $SUBCOMMAND}"
  echo "$PROG$where: error: $*" >&2
  local usage_fn="usage_${SUBCOMMAND:-main}"
  "$usage_fn" | sed -n '1p' >&2
  echo "Run '$PROG${where} --help' for details." >&2
  exit 2
}

die() {
  echo "$PROG${SUBCOMMAND:+ $SUBCOMMAND}: error: $*" >&2
  exit 1
}

# Quotes one word for a POSIX shell, leaving safe words bare.
quote_word() {
  local word="$1"
  if [[ "$word" =~ $SAFE_WORD_RE ]]; then
    printf '%s' "$word"
  else
    printf "'%s'" "${word//\'/\'\"\'\"\'}"
  fi
}

# Quotes every argument and joins them with spaces.
quote_words() {
  local out="" word
  for word in "$@"; do
    out+="${out:+ }$(quote_word "$word")"
  done
  printf '%s' "$out"
}

# Runs a command, or with --dry-run prints it (shell-quoted) to stdout.
run() {
  if ((DRY_RUN)); then
    quote_words "$@"
    echo
  else
    echo "+ $(quote_words "$@")" >&2
    "$@"
  fi
}

# Reads the value of option $1 from $2, failing when it is absent or empty.
require_value() {
  local option="$1"
  if (($# < 2)) || [[ -z "$2" ]]; then
    die_usage "$option needs a value"
  fi
}

require_set() {
  local value="$1" what="$2"
  [[ -n "$value" ]] || die_usage "missing $what"
}

require_int() {
  local value="$1" option="$2"
  [[ "$value" =~ ^[0-9]+$ ]] || die_usage "$option must be a non-negative integer, got '$value'"
}

check_env_assignment() {
  [[ "$1" =~ $ENV_ASSIGNMENT_RE ]] || die_usage "--env expects KEY=VALUE, got '$1'"
}

# Options shared by the TPU subcommands; their defaults come from the environment.
NAME="${BABYCRY_TPU_NAME:-}"
ZONE="${BABYCRY_TPU_ZONE:-}"
PROJECT="${BABYCRY_TPU_PROJECT:-}"

# Parses one shared option at the front of "$@". Sets SHIFT_BY to the number of
# words used (0 when the option is not a shared one).
SHIFT_BY=0
parse_common_option() {
  SHIFT_BY=0
  case "$1" in
    --name) require_value "$@"; NAME="$2"; SHIFT_BY=2 ;;
    --name=*) NAME="${1#*=}"; SHIFT_BY=1 ;;
    --zone) require_value "$@"; ZONE="$2"; SHIFT_BY=2 ;;
    --zone=*) ZONE="${1#*=}"; SHIFT_BY=1 ;;
    --project) require_value "$@"; PROJECT="$2"; SHIFT_BY=2 ;;
    --project=*) PROJECT="${1#*=}"; SHIFT_BY=1 ;;
    --dry-run) DRY_RUN=1; SHIFT_BY=1 ;;
    -h | --help) "usage_$SUBCOMMAND"; exit 0 ;;
  esac
  return 0
}

check_common() {
  require_set "$NAME" "--name (or BABYCRY_TPU_NAME)"
  require_set "$ZONE" "--zone (or BABYCRY_TPU_ZONE)"
  [[ "$NAME" =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]] \
    || die_usage "--name '$NAME' is not a valid TPU name (lowercase letters, digits, '-')"
}

# The flags every gcloud tpu command gets after the TPU name.
location_flags() {
  LOCATION_FLAGS=("--zone=$ZONE")
  if [[ -n "$PROJECT" ]]; then
    LOCATION_FLAGS+=("--project=$PROJECT")
  fi
}

# Runs a shell command on the given worker(s) of the TPU VM.
tpu_ssh() {
  local worker="$1" command="$2"
  location_flags
  run "$GCLOUD" compute tpus tpu-vm ssh "$NAME" "${LOCATION_FLAGS[@]}" \
    "--worker=$worker" "--command=$command"
}

# The jax version pinned in setup.py (empty when there is none).
pinned_jax_version() {
  sed -n 's/^[[:space:]]*"jax==\([^"]*\)".*/\1/p' "$REPO_ROOT/setup.py" 2>/dev/null | head -n 1
}

# Environment prefix ("env K=V ... ") for a remote command, from the --env options.
env_prefix() {
  if (($# == 0)); then
    return 0
  fi
  printf 'env %s ' "$(quote_words "$@")"
}

# ------------------------------------------------------------------ subcommands

cmd_create() {
  local accelerator_type="${BABYCRY_TPU_ACCELERATOR_TYPE:-}"
  local version="${BABYCRY_TPU_VERSION:-}" spot=0 queued=0
  while (($#)); do
    parse_common_option "$@"
    if ((SHIFT_BY)); then shift "$SHIFT_BY"; continue; fi
    case "$1" in
      --accelerator_type) require_value "$@"; accelerator_type="$2"; shift 2 ;;
      --accelerator_type=*) accelerator_type="${1#*=}"; shift ;;
      --version) require_value "$@"; version="$2"; shift 2 ;;
      --version=*) version="${1#*=}"; shift ;;
      --spot) spot=1; shift ;;
      --queued) queued=1; shift ;;
      *) die_usage "unknown option '$1'" ;;
    esac
  done
  check_common
  require_set "$accelerator_type" "--accelerator_type (or BABYCRY_TPU_ACCELERATOR_TYPE)"
  require_set "$version" "--version (or BABYCRY_TPU_VERSION)"
  location_flags
  local -a argv
  if ((queued)); then
    argv=("$GCLOUD" compute tpus queued-resources create "$NAME" "${LOCATION_FLAGS[@]}"
      "--node-id=$NAME" "--accelerator-type=$accelerator_type" "--runtime-version=$version")
  else
    argv=("$GCLOUD" compute tpus tpu-vm create "$NAME" "${LOCATION_FLAGS[@]}"
      "--accelerator-type=$accelerator_type" "--version=$version")
  fi
  if ((spot)); then
    argv+=(--spot)
  fi
  run "${argv[@]}"
}

# Packs the source tree into $1 (a .tar.gz); with --dry-run prints how.
make_source_tarball() {
  local tarball="$1"
  if git -C "$REPO_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # What git would commit, read from the working tree, so uncommitted edits travel too.
    local -a list_files=(git -C "$REPO_ROOT" ls-files -z --cached --others --exclude-standard)
    local -a pack=(tar -czf "$tarball" -C "$REPO_ROOT" --ignore-failed-read --null --files-from=-)
    if ((DRY_RUN)); then
      echo "$(quote_words "${list_files[@]}") | $(quote_words "${pack[@]}")"
    else
      echo "+ $(quote_words "${list_files[@]}") | $(quote_words "${pack[@]}")" >&2
      "${list_files[@]}" | "${pack[@]}"
    fi
  else
    run tar -czf "$tarball" -C "$REPO_ROOT" --exclude=.git --exclude=.venv \
      --exclude=__pycache__ --exclude='*.egg-info' --exclude=.pytest_cache \
      --exclude=./build --exclude=./data --exclude=./runs --exclude=./detections .
  fi
}

cmd_setup() {
  local python="${BABYCRY_TPU_PYTHON:-python3}"
  while (($#)); do
    parse_common_option "$@"
    if ((SHIFT_BY)); then shift "$SHIFT_BY"; continue; fi
    case "$1" in
      --python) require_value "$@"; python="$2"; shift 2 ;;
      --python=*) python="${1#*=}"; shift ;;
      *) die_usage "unknown option '$1'" ;;
    esac
  done
  check_common
  [[ -f "$REPO_ROOT/setup.py" ]] || die "no setup.py in $REPO_ROOT: run launch.sh from the repository"

  local staging tarball
  staging="$(mktemp -d "${TMPDIR:-/tmp}/babycry_jax_setup.XXXXXX")"
  # Expands now on purpose: the trap must remove this very directory.
  # shellcheck disable=SC2064
  trap "rm -rf '$staging'" EXIT
  tarball="$staging/$REMOTE_TARBALL"
  make_source_tarball "$tarball"

  location_flags
  run "$GCLOUD" compute tpus tpu-vm scp "$tarball" "$NAME:$REMOTE_TARBALL" \
    "${LOCATION_FLAGS[@]}" --worker=all

  local jax_version jax_tpu="jax[tpu]"
  jax_version="$(pinned_jax_version)"
  if [[ -n "$jax_version" ]]; then
    jax_tpu="jax[tpu]==$jax_version"
  fi
  local code_q venv_q python_q
  code_q="$(quote_word "$REMOTE_CODE_DIR")"
  venv_q="$(quote_word "$REMOTE_VENV_DIR")"
  python_q="$(quote_word "$python")"
  # Unpack into a fresh directory and swap it in, so files deleted here vanish there too.
  local install="set -eu; cd \"\$HOME\"; "
  install+="rm -rf $code_q.new; mkdir -p $code_q.new; "
  install+="tar -xzf $(quote_word "$REMOTE_TARBALL") -C $code_q.new; "
  install+="rm -rf $code_q; mv $code_q.new $code_q; rm -f $(quote_word "$REMOTE_TARBALL"); "
  install+="if [ ! -x $venv_q/bin/python ]; then $python_q -m venv $venv_q "
  install+="|| { echo \"\$(hostname): creating the venv failed: install python3-venv or pass --python\" >&2; exit 1; }; fi; "
  install+="$venv_q/bin/python -m pip install --quiet --upgrade pip; "
  install+="$venv_q/bin/python -m pip install --quiet -e ./$code_q $(quote_word "$jax_tpu"); "
  install+="echo \"\$(hostname): installed babycry_jax with $jax_tpu\""
  tpu_ssh all "$install"
}

cmd_train() {
  local config="" workdir="" dataset_dir=""
  local -a overrides=() envs=() passthrough=()
  while (($#)); do
    parse_common_option "$@"
    if ((SHIFT_BY)); then shift "$SHIFT_BY"; continue; fi
    case "$1" in
      --config) require_value "$@"; config="$2"; shift 2 ;;
      --config=*) config="${1#*=}"; shift ;;
      --workdir) require_value "$@"; workdir="$2"; shift 2 ;;
      --workdir=*) workdir="${1#*=}"; shift ;;
      --dataset_dir) require_value "$@"; dataset_dir="$2"; shift 2 ;;
      --dataset_dir=*) dataset_dir="${1#*=}"; shift ;;
      --env) require_value "$@"; check_env_assignment "$2"; envs+=("$2"); shift 2 ;;
      --env=*) check_env_assignment "${1#*=}"; envs+=("${1#*=}"); shift ;;
      --config.*=*) overrides+=("$1"); shift ;;
      --config.*) die_usage "write config overrides as $1=VALUE" ;;
      --) shift; passthrough=("$@"); break ;;
      *) die_usage "unknown option '$1'" ;;
    esac
  done
  check_common
  require_set "$config" "--config"
  require_set "$workdir" "--workdir"
  if [[ -n "$dataset_dir" ]]; then
    overrides=("--config.dataset_dir=$dataset_dir" "${overrides[@]}")
  fi

  local -a trainer=(-m babycry_jax.train --distributed "--config=$config" "--workdir=$workdir"
    "${overrides[@]}" "${passthrough[@]}")
  local log_q pid_q
  log_q="\"\$HOME\"/$(quote_word "$REMOTE_LOG_DIR/train.log")"
  pid_q="\"\$HOME\"/$(quote_word "$REMOTE_LOG_DIR/train.pid")"
  local start
  start="set -eu; cd \"\$HOME\"; mkdir -p $(quote_word "$REMOTE_LOG_DIR"); "
  start+="if [ -s $pid_q ] && kill -0 -- \"-\$(cat $pid_q)\" 2>/dev/null; then "
  start+="echo \"\$(hostname): training is already running (process group \$(cat $pid_q)); "
  start+="run '$PROG stop' first\" >&2; exit 1; fi; rm -f $pid_q; "
  start+="cd $(quote_word "$REMOTE_CODE_DIR"); "
  # The child records its own pid: after setsid it leads a process group that stop can kill.
  start+="setsid nohup bash -c 'echo \$\$ > \"\$0\"; exec \"\$@\"' $pid_q "
  start+="$(env_prefix "${envs[@]}")\"\$HOME\"/$(quote_word "$REMOTE_VENV_DIR/bin/python") "
  start+="$(quote_words "${trainer[@]}") >> $log_q 2>&1 < /dev/null & "
  start+="for _ in \$(seq 50); do [ -s $pid_q ] && break; sleep 0.1; done; "
  start+="echo \"\$(hostname): training started (process group \$(cat $pid_q 2>/dev/null || echo '?')), "
  start+="log ~/$REMOTE_LOG_DIR/train.log\""
  tpu_ssh all "$start"
}

cmd_logs() {
  local worker=0 lines=100
  while (($#)); do
    parse_common_option "$@"
    if ((SHIFT_BY)); then shift "$SHIFT_BY"; continue; fi
    case "$1" in
      --worker) require_value "$@"; worker="$2"; shift 2 ;;
      --worker=*) worker="${1#*=}"; shift ;;
      --lines) require_value "$@"; lines="$2"; shift 2 ;;
      --lines=*) lines="${1#*=}"; shift ;;
      *) die_usage "unknown option '$1'" ;;
    esac
  done
  check_common
  require_int "$worker" --worker
  require_int "$lines" --lines
  tpu_ssh "$worker" "tail -n $lines -F \"\$HOME\"/$(quote_word "$REMOTE_LOG_DIR/train.log")"
}

cmd_eval() {
  local workdir="" split="" checkpoint="" worker=0
  local -a envs=() passthrough=()
  while (($#)); do
    parse_common_option "$@"
    if ((SHIFT_BY)); then shift "$SHIFT_BY"; continue; fi
    case "$1" in
      --workdir) require_value "$@"; workdir="$2"; shift 2 ;;
      --workdir=*) workdir="${1#*=}"; shift ;;
      --split) require_value "$@"; split="$2"; shift 2 ;;
      --split=*) split="${1#*=}"; shift ;;
      --checkpoint) require_value "$@"; checkpoint="$2"; shift 2 ;;
      --checkpoint=*) checkpoint="${1#*=}"; shift ;;
      --worker) require_value "$@"; worker="$2"; shift 2 ;;
      --worker=*) worker="${1#*=}"; shift ;;
      --env) require_value "$@"; check_env_assignment "$2"; envs+=("$2"); shift 2 ;;
      --env=*) check_env_assignment "${1#*=}"; envs+=("${1#*=}"); shift ;;
      --) shift; passthrough=("$@"); break ;;
      *) die_usage "unknown option '$1'" ;;
    esac
  done
  check_common
  require_set "$workdir" "--workdir"
  require_int "$worker" --worker
  if [[ -n "$checkpoint" && ! "$checkpoint" =~ ^(best|latest|[0-9]+)$ ]]; then
    die_usage "--checkpoint must be best, latest or a step number, got '$checkpoint'"
  fi
  local -a evaluator=(-m babycry_jax.evaluate "--workdir=$workdir")
  if [[ -n "$split" ]]; then evaluator+=("--split=$split"); fi
  if [[ -n "$checkpoint" ]]; then evaluator+=("--checkpoint=$checkpoint"); fi
  evaluator+=("${passthrough[@]}")
  local remote
  remote="cd \"\$HOME\"/$(quote_word "$REMOTE_CODE_DIR") && "
  remote+="$(env_prefix "${envs[@]}")\"\$HOME\"/$(quote_word "$REMOTE_VENV_DIR/bin/python") "
  remote+="$(quote_words "${evaluator[@]}")"
  tpu_ssh "$worker" "$remote"
}

cmd_stop() {
  local grace_s=120
  while (($#)); do
    parse_common_option "$@"
    if ((SHIFT_BY)); then shift "$SHIFT_BY"; continue; fi
    case "$1" in
      --grace_s) require_value "$@"; grace_s="$2"; shift 2 ;;
      --grace_s=*) grace_s="${1#*=}"; shift ;;
      *) die_usage "unknown option '$1'" ;;
    esac
  done
  check_common
  require_int "$grace_s" --grace_s
  local pid_q
  pid_q="\"\$HOME\"/$(quote_word "$REMOTE_LOG_DIR/train.pid")"
  local stop="if [ ! -s $pid_q ]; then echo \"\$(hostname): no training was started here\"; exit 0; fi; "
  stop+="group=\$(cat $pid_q); "
  stop+="if ! kill -TERM -- \"-\$group\" 2>/dev/null; then "
  stop+="echo \"\$(hostname): training had already ended\"; rm -f $pid_q; exit 0; fi; "
  stop+="waited_s=0; while kill -0 -- \"-\$group\" 2>/dev/null && [ \$waited_s -lt $grace_s ]; do "
  stop+="sleep 1; waited_s=\$((waited_s + 1)); done; "
  stop+="if kill -KILL -- \"-\$group\" 2>/dev/null; then "
  stop+="echo \"\$(hostname): training killed after ${grace_s}s grace\"; "
  stop+="else echo \"\$(hostname): training stopped\"; fi; rm -f $pid_q"
  tpu_ssh all "$stop"
}

cmd_delete() {
  local queued=0 yes=0
  while (($#)); do
    parse_common_option "$@"
    if ((SHIFT_BY)); then shift "$SHIFT_BY"; continue; fi
    case "$1" in
      --queued) queued=1; shift ;;
      --yes) yes=1; shift ;;
      *) die_usage "unknown option '$1'" ;;
    esac
  done
  check_common
  location_flags
  local -a argv
  if ((queued)); then
    # --force deletes the queued resource together with the node it holds.
    argv=("$GCLOUD" compute tpus queued-resources delete "$NAME" "${LOCATION_FLAGS[@]}" --force)
  else
    argv=("$GCLOUD" compute tpus tpu-vm delete "$NAME" "${LOCATION_FLAGS[@]}")
  fi
  if ((yes)); then
    argv+=(--quiet)
  fi
  run "${argv[@]}"
}

cmd_local() {
  local -a args=()
  local before_separator=1 word
  # --dry-run is ours wherever it appears before a '--'; everything else is the job's.
  for word in "$@"; do
    if ((before_separator)) && [[ "$word" == --dry-run ]]; then
      DRY_RUN=1
      continue
    fi
    if [[ "$word" == -- ]]; then before_separator=0; fi
    args+=("$word")
  done
  if ((${#args[@]} == 0)); then
    die_usage "missing JOB (train, preprocess, eval, detect or -- COMMAND)"
  fi
  local job="${args[0]}"
  args=("${args[@]:1}")
  local python="${PYTHON:-}"
  if [[ -z "$python" ]]; then
    if command -v python >/dev/null 2>&1; then python=python; else python=python3; fi
  fi
  local -a argv
  case "$job" in
    -h | --help) usage_local; exit 0 ;;
    train) argv=("$python" -m babycry_jax.train "${args[@]}") ;;
    preprocess) argv=("$python" -m preprocess "${args[@]}") ;;
    eval) argv=("$python" -m babycry_jax.evaluate "${args[@]}") ;;
    detect) argv=("$python" -m babycry_jax.detect "${args[@]}") ;;
    --)
      if ((${#args[@]} == 0)); then die_usage "nothing to run after --"; fi
      argv=("${args[@]}")
      ;;
    *) die_usage "unknown local job '$job' (train, preprocess, eval, detect or -- COMMAND)" ;;
  esac
  if ((DRY_RUN)); then
    run "${argv[@]}"
  else
    echo "+ $(quote_words "${argv[@]}")" >&2
    exec "${argv[@]}"
  fi
}

# ------------------------------------------------------------------ main

main() {
  while (($#)); do
    case "$1" in
      --dry-run) DRY_RUN=1; shift ;;
      -h | --help) usage_main; exit 0 ;;
      -*) die_usage "unknown global option '$1'" ;;
      *) break ;;
    esac
  done
  if (($# == 0)); then
    die_usage "missing SUBCOMMAND"
  fi
  case "$1" in
    create | setup | train | logs | eval | stop | delete | local) SUBCOMMAND="$1" ;;
    *) die_usage "unknown subcommand '$1'" ;;
  esac
  shift
  "cmd_$SUBCOMMAND" "$@"
}

main "$@"
