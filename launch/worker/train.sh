# Starts the trainer in the background, detached from the ssh session, with a log.
# Set before this: CODE_DIR VENV_DIR LOG_DIR, and the arrays TRAINER_ENV (KEY=VALUE words)
# and TRAINER_ARGS (the python arguments).
cd "$HOME"
logs="$HOME/$LOG_DIR"
mkdir -p "$logs"
if [ -s "$logs/train.pid" ] && kill -0 -- "-$(cat "$logs/train.pid")" 2>/dev/null; then
  echo "$(hostname): training is already running (process group $(cat "$logs/train.pid"));" \
    "run 'launch.sh stop' first" >&2
  exit 1
fi
rm -f "$logs/train.pid" "$logs/train.exit" "$logs/train.stopped"
cat > "$logs/run_trainer.sh" <<'WRAPPER'
# Runs the trainer in the process group this shell leads (stop signals the group), and
# records how it ended in train.exit: its exit status, or "terminated" when a SIGTERM came
# (a preemption, maintenance or launch.sh stop), whatever the trainer then returned.
echo $$ > "$1"
exit_file=$2
shift 2
terminated=0
trap 'terminated=1' TERM
"$@"
status=$?
if [ "$terminated" = 1 ]; then echo terminated > "$exit_file"; else echo "$status" > "$exit_file"; fi
WRAPPER
cd "$HOME/$CODE_DIR"
setsid nohup bash "$logs/run_trainer.sh" "$logs/train.pid" "$logs/train.exit" \
  env "${TRAINER_ENV[@]}" "$HOME/$VENV_DIR/bin/python" "${TRAINER_ARGS[@]}" \
  >> "$logs/train.log" 2>&1 < /dev/null &
for _ in $(seq 50); do [ -s "$logs/train.pid" ] && break; sleep 0.1; done
group=$(cat "$logs/train.pid" 2>/dev/null || echo '?')
echo "$(hostname): training started (process group $group), log ~/$LOG_DIR/train.log"
