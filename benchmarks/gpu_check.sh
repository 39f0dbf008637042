#!/usr/bin/env bash
# The GPU check, run once on a lent CUDA machine (never needed to build or test the project):
# DAE pre-training on the GPU, 10-round federations of fedavg / proposed / proposed_structured
# with the client Trainers on the GPU (fedavg also on the CPU of the same machine, side by side),
# and the fast tests with CUDA visible. Prints seconds per round and accuracy at round 10 beside
# the committed CPU curves (results/fashion_mnist/curves.csv, IID, seed 0).
#
# Usage (repository root, on the GPU machine):  KIT=.gpu bash benchmarks/gpu_check.sh
# KIT holds what a machine without registries lacks: whl/ (jsonargparse, docstring_parser,
# typeshed_client, wandb and its needs, as Python 3.12 wheels) and fmnist/ (the four IDX files).
# Writes runs/gpu_check/ (and copies the figures to $OUT when set).
set -uo pipefail
KIT=${KIT:-.gpu}
RUNS=runs/gpu_check
rm -rf "$RUNS" && mkdir -p "$RUNS"  # a fresh folder: every run below starts new
if [ -d "$KIT/whl" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    "$KIT"/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
if [ -d "$KIT/fmnist" ]; then
  mkdir -p /usr/share/datasets/fashion-mnist && cp "$KIT"/fmnist/*.gz /usr/share/datasets/fashion-mnist/
fi
export PYTHONUNBUFFERED=1 WANDB_MODE=offline
FL="python3 -m fl_lightning"
nvidia-smi -L
python3 -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"

timed() {  # timed NAME CMD...: run CMD, record its wall seconds in $RUNS/NAME.seconds
  local name=$1; shift
  local t0; t0=$(date +%s.%N)
  "$@" >"$RUNS/$name.log" 2>&1
  local rc=$?
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)" >"$RUNS/$name.seconds"
  echo "$name: rc=$rc, $(cat "$RUNS/$name.seconds") s"; tail -n 3 "$RUNS/$name.log"
}

timed pretrain $FL pretrain --config configs/pretrain/fashion_mnist.yaml \
  --trainer.accelerator gpu --output "$RUNS/pretrain"
CKPT="$RUNS/pretrain/dae.ckpt"
for m in fedavg proposed proposed_structured; do
  timed "federate_$m" $FL federate --config configs/federate/fashion_mnist.yaml --method "$m" \
    --rounds 10 --client.accelerator gpu --checkpoint "$CKPT" --output "$RUNS/$m"
done
timed federate_fedavg_cpu $FL federate --config configs/federate/fashion_mnist.yaml \
  --method fedavg --rounds 10 --client.accelerator cpu --output "$RUNS/fedavg_cpu"

python3 - "$RUNS" <<'EOF'
import csv, json, sys
from pathlib import Path
runs = Path(sys.argv[1])
cpu = {}
with open("results/fashion_mnist/curves.csv") as f:
    for r in csv.DictReader(f):
        if r["partition"] == "iid" and r["seed"] == "0" and r["round"] == "10":
            cpu.setdefault(r["method"], float(r["test/acc"]))
rows = []
for name in ["fedavg", "proposed", "proposed_structured", "fedavg_cpu"]:
    metrics = runs / name / "metrics.csv"
    if not metrics.exists():
        rows.append({"run": name, "error": "no metrics.csv"}); continue
    hist = list(csv.DictReader(metrics.open()))
    last = hist[-1]
    wall = float((runs / f"federate_{name}.seconds").read_text())
    rows.append({
        "run": name, "rounds": len(hist), "acc_round10": float(last["test/acc"]),
        "cpu_curve_acc_round10": cpu.get(name.removesuffix("_cpu")),
        "client_seconds_per_round": float(last["compute/cum_client_seconds"]) / len(hist),
        "command_wall_seconds": wall, "cum_MB": float(last["comm/cum_bytes"]) / 1e6,
    })
rows.append({"run": "pretrain", "command_wall_seconds": float((runs / "pretrain.seconds").read_text())})
text = json.dumps(rows, indent=1)
print(text)
(runs / "gpu_check.json").write_text(text + "\n")
EOF

# The fast tests with CUDA visible (Flower's tests need flwr/Ray, which the kit does not carry).
timeout ${TEST_SECONDS:-150} python3 -m pytest -q -p no:cacheprovider -n 8 -x \
  --ignore-glob='tests/federated/test_flower*' --ignore=tests/experiments/test_compare_parallel.py \
  >"$RUNS/pytest.log" 2>&1
echo "pytest rc=$?"; tail -n 15 "$RUNS/pytest.log"
if [ -n "${OUT:-}" ]; then
  cp "$RUNS/gpu_check.json" "$RUNS/pytest.log" "$OUT/" 2>/dev/null
  tar czf "$OUT/logs.tgz" "$RUNS"/*.log "$RUNS"/*.seconds 2>/dev/null
fi
