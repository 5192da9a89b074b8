# Sends SIGTERM to the training process group (the trainer checkpoints and exits), waits up
# to GRACE_S seconds, then SIGKILLs what is left. Set before this: LOG_DIR GRACE_S.
logs="$HOME/$LOG_DIR"
if [ ! -s "$logs/train.pid" ]; then
  echo "$(hostname): no training was started here"
  exit 0
fi
group=$(cat "$logs/train.pid")
if ! kill -0 -- "-$group" 2>/dev/null; then
  echo "$(hostname): training had already ended"
  rm -f "$logs/train.pid"
  exit 0
fi
# Marked before the signal, so that a watching 'launch.sh run' never takes it for a preemption.
touch "$logs/train.stopped"
kill -TERM -- "-$group" 2>/dev/null || true
waited_s=0
while kill -0 -- "-$group" 2>/dev/null && [ "$waited_s" -lt "$GRACE_S" ]; do
  sleep 1
  waited_s=$((waited_s + 1))
done
if kill -KILL -- "-$group" 2>/dev/null; then
  echo "$(hostname): training killed after ${GRACE_S}s grace"
else
  echo "$(hostname): training stopped"
fi
rm -f "$logs/train.pid"
