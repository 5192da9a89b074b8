# Prints how training stands on this worker as one line, "babycry-train-status HOST STATE":
# running; finished; failed N (exit status N); terminated (it got SIGTERM: a preemption or
# maintenance); stopped (launch.sh stop, from its start); lost (it vanished without an exit
# status: killed, or the host went down); absent (never started on this disk).
# Set before this: LOG_DIR.
logs="$HOME/$LOG_DIR"
group=$(cat "$logs/train.pid" 2>/dev/null || true)
ended=$(cat "$logs/train.exit" 2>/dev/null || true)
# train.exit before the process group: it is written last, while the group's shell still
# lives for a moment.
if [ -e "$logs/train.stopped" ]; then state=stopped
elif [ "$ended" = 0 ]; then state=finished
elif [ "$ended" = terminated ]; then state=terminated
elif [ -n "$ended" ]; then state="failed $ended"
elif [ -n "$group" ] && kill -0 -- "-$group" 2>/dev/null; then state=running
elif [ -n "$group" ]; then state=lost
else state=absent
fi
echo "babycry-train-status $(hostname) $state"
