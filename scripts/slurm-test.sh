#!/usr/bin/env bash
# Opt-in test (not in `cargo test`): runs deploy/slurm/ on a real one-node Slurm on 127.0.0.1.
#
#   scripts/slurm-test.sh          (as root; installs Debian's slurm-wlm and munge when missing)
#
# Starts munged, slurmctld and slurmd by hand with a generated config under a temporary folder,
# indexes the committed KorQuAD sample, submits deploy/slurm/submit-predict.sh with 3 shards (one
# array task fails once and requeues itself) and the dependent merge job, waits (bounded), prints
# every job's state, attempts and times, and checks that the merged predictions.json and
# nbest_predictions.json are byte-identical to one unsharded `odqa predict`. Then it stops every
# daemon it started (by PID) and removes its folder, whether the test passed or not.
# ODQA=path/to/odqa picks the binary (default target/release/odqa, else target/debug/odqa).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
TIMEOUT=${TIMEOUT:-300}

if [ -z "${ODQA:-}" ]; then
    for candidate in target/release/odqa target/debug/odqa; do
        if [ -x "$candidate" ]; then ODQA=$candidate; break; fi
    done
fi
if [ -z "${ODQA:-}" ]; then
    cargo build --release --bin odqa
    ODQA=target/release/odqa
fi
ODQA=$(realpath "$ODQA")
if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
    echo "installing slurm-wlm and munge (Debian packages)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge > /dev/null
fi

work=$(mktemp -d /tmp/odqa-slurm-test.XXXXXX)
pids=()
# shellcheck disable=SC2329 # called by the EXIT trap
cleanup() {
    local status=$?
    if command -v scancel > /dev/null && [ -f "$work/slurm.conf" ]; then
        SLURM_CONF=$work/slurm.conf scancel --quiet --user="$(id -un)" 2> /dev/null || true
    fi
    for pid in "${pids[@]}"; do
        kill "$pid" 2> /dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2> /dev/null; then kill -9 "$pid" 2> /dev/null || true; fi
        echo "cleanup: daemon $pid stopped"
    done
    rm -rf "$work"
    echo "cleanup: removed $work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# munge: its own key and socket under $work.
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/jobs"
chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/socket" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" \
    --seed-file="$work/munge/seed"
for _ in $(seq 50); do [ -s "$work/munge/munged.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$work/munge/munged.pid")")

cpus=$(nproc)
cat > "$work/slurm.conf" << EOF
ClusterName=odqa-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$work/munge/socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
MinJobAge=600
NodeName=odqa-node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$work/slurm.conf
slurmctld -D -i > "$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N odqa-node > "$work/slurmd.out" 2>&1 &
pids+=($!)
for i in $(seq 60); do
    state=$(sinfo -h -N -o %t 2> /dev/null || true)
    [ "$state" = idle ] && break
    if [ "$i" -eq 60 ]; then
        echo "FAIL: the node did not come up (state '$state')"
        tail -5 "$work/slurmctld.log" "$work/slurmd.log" 2> /dev/null
        exit 1
    fi
    sleep 1
done
echo "slurm: $(sinfo --version), node odqa-node idle with $cpus CPUs; daemons ${pids[*]}"

# The fixture index and reader, and the unsharded run to compare with.
questions=$repo/corpus/korquad-sample.json
"$ODQA" index --corpus "$questions" --index "$work/index" > /dev/null 2>&1
args="--max-seq-len 128 --doc-stride 32 --top-k 3"
mkdir -p "$work/whole"
# shellcheck disable=SC2086 # $args is a list of options
"$ODQA" predict --index "$work/index" --model "$repo/tests/fixtures/reader-parity/tiny-bert-qa" \
    --questions "$questions" --out "$work/whole/predictions.json" \
    --nbest-out "$work/whole/nbest_predictions.json" $args 2> /dev/null
echo "unsharded: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' \
    "$work/whole/predictions.json") questions answered"

# Task 1 fails on its first attempt (as a crashed node or an out-of-memory kill would make it).
cat > "$work/odqa-flaky" << EOF
#!/bin/bash
if [ "\${SLURM_ARRAY_TASK_ID:-}" = 1 ] && [ ! -e "$work/failed-once" ]; then
    touch "$work/failed-once"
    echo "odqa-flaky: failing task 1 on purpose" >&2
    exit 1
fi
exec "$ODQA" "\$@"
EOF
chmod +x "$work/odqa-flaky"

export ODQA_BIN=$work/odqa-flaky ODQA_INDEX=$work/index \
    ODQA_MODEL=$repo/tests/fixtures/reader-parity/tiny-bert-qa ODQA_QUESTIONS=$questions \
    ODQA_PARTS=$work/parts ODQA_OUT=$work/merged ODQA_ARGS=$args ODQA_RETRIES=1
started=$(date +%s)
read -r array merge < <(deploy/slurm/submit-predict.sh 3 --cpus-per-task=1 --chdir="$work/jobs")
echo "submitted: array job $array (3 tasks), merge job $merge (afterok:$array)"

job_state() { scontrol show job "$1" -o 2> /dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
while :; do
    state=$(job_state "$merge")
    case $state in
        COMPLETED) break ;;
        FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY)
            echo "FAIL: merge job $merge ended $state"
            tail -n 20 "$work"/jobs/*.log
            exit 1
            ;;
    esac
    if [ $(($(date +%s) - started)) -gt "$TIMEOUT" ]; then
        echo "FAIL: not done after $TIMEOUT s (merge job: ${state:-gone})"
        squeue
        tail -n 20 "$work"/jobs/*.log
        exit 1
    fi
    sleep 1
done
echo "all jobs done in $(($(date +%s) - started)) s:"
printf '  %-10s %-13s %-10s %-9s %-20s %-20s %s\n' JOB NAME STATE EXIT RESTARTS START END
for id in "${array}_0" "${array}_1" "${array}_2" "$merge"; do
    scontrol show job "$id" -o | tr ' ' '\n' | awk -F= -v id="$id" '
        { v[$1] = substr($0, length($1) + 2) }
        END { printf "  %-10s %-13s %-10s %-9s %-20s %-20s %s\n", id, v["JobName"], v["JobState"],
              v["ExitCode"], v["Restarts"], v["StartTime"], v["EndTime"] }'
done
echo "task 1's log:"
sed 's/^/  | /' "$work/jobs/odqa-predict-${array}_1.log" | grep -v '^  | *$' | grep -iv 'warning' | head -12
echo "partial files: $(find "$work/parts" -type f -printf '%f ' | tr ' ' '\n' | sort | tr '\n' ' ')"

failed=0
for file in predictions.json nbest_predictions.json; do
    if cmp "$work/whole/$file" "$work/merged/$file"; then
        echo "byte-identical: merged $file = unsharded $file ($(wc -c < "$work/merged/$file") bytes, sha256 $(sha256sum < "$work/merged/$file" | cut -c1-16))"
    else
        echo "FAIL: merged $file differs from the unsharded one"
        failed=1
    fi
done
restarts=$(scontrol show job "${array}_1" -o | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
if [ "${restarts:-0}" -lt 1 ]; then
    echo "FAIL: task 1 was not requeued (Restarts=${restarts:-?})"
    failed=1
fi
[ "$failed" -eq 0 ] && echo "PASS: 3 shards (task 1 failed once and was requeued) + merge = unsharded predict"
exit "$failed"
