#!/usr/bin/env bash
# The GPU bring-up run, on a GPU host, from the bundle made by benchmarks/gpu/bundle.sh (no .NET SDK
# needed there). Writes everything into one folder:
#   host.txt                                      the machine, the driver's view of the GPU (nvidia-smi), and at the
#                                                 end ILGPU's device description and PyTorch's log
#   torch_baseline.jsonl                          PyTorch's numbers for the same cases, same card, same run (with
#                                                 torch_conv_amp.py's AMP records of the five conv layers)
#   results.jsonl, summary.md, report.md (floors), profile.md, lab.log  the lab: device as ILGPU sees it, the GPU cases and
#                                                 goldens on CUDA, timings, the train steps' kernel profile,
#                                                 mnist_cnn trained 2 epochs (CUDA float32 and --fp16, then
#                                                 the CPU with the same seed)
#   ncu.txt                                       Nsight Compute on one kernel (see below)
#   <card>.md                                     h100.md / h200.md: summary.md, report.md and profile.md in one
#                                                 file for benchmarks/results (they are folded into it)
#   usage: bash BUNDLE/run.sh [OUTDIR] [lab options, e.g. --only device,cases]   (OUTDIR defaults to $OUT)
# A failing step is noted and the next one still runs; the exit code is the lab's.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then out=$1; shift; else out=${OUT:?usage: run.sh OUTDIR [lab options] (or set OUT)}; fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

{ date -u; uname -a; nproc; free -g 2>/dev/null | head -2; } >"$out/host.txt" 2>&1
echo "== nvidia-smi"
# (appended to host.txt: the device tool brings back at most 8 files)
if command -v nvidia-smi >/dev/null; then nvidia-smi 2>&1 | tee -a "$out/host.txt"; else echo "nvidia-smi not found" | tee -a "$out/host.txt"; fi

echo "== torch_baseline.py --device cuda"
if command -v python3 >/dev/null && python3 -c 'import torch' 2>/dev/null; then
  timeout "${TORCH_TIMEOUT:-150}" python3 "$here/torch_baseline.py" --device cuda >"$out/torch_baseline.jsonl" 2>"$out/torch_baseline.log"
  echo "torch_baseline exit code $? ($(wc -l <"$out/torch_baseline.jsonl") lines)"
  # the five conv layers under autocast (amp: true records, same names): the pairing for NativeCnn's _amp conv cases
  if [ -f "$here/torch_conv_amp.py" ]; then
    timeout "${TORCH_AMP_TIMEOUT:-60}" python3 "$here/torch_conv_amp.py" --device cuda >>"$out/torch_baseline.jsonl" 2>>"$out/torch_baseline.log"
    echo "torch_conv_amp exit code $? ($(wc -l <"$out/torch_baseline.jsonl") lines in all)"
  fi
else
  echo "no python3 with torch here: no PyTorch baseline" | tee "$out/torch_baseline.log"
fi

echo "== NativeCnn GPU lab"
timeout "${LAB_TIMEOUT:-420}" bash "$here/lab/run.sh" "$out" --torch "$out/torch_baseline.jsonl" "$@" 2>&1 | tee "$out/lab.log"
code=${PIPESTATUS[0]}

# The wgmma cases (GpuCases.Wgmma.cs: the probe, then the wgmma GEMM) and the wgmma GEMM's timings
# (float16 gemm rows with variant "wgmma", the resnet18 AMP step on it; float32 gemm rows too, as the
# filter matches them) in a
# process of its own, after the lab: a kernel that faults leaves its CUDA context unusable, and nothing
# else runs after it here. Its case and bench records join results.jsonl, its output lab.log.
# PROBE_TIMEOUT=0 skips it.
if [ "${PROBE_TIMEOUT:-120}" != 0 ]; then
  echo "== wgmma"
  probe_args=(); for a in "$@"; do [ "$a" = --simulator ] && probe_args+=(--simulator --quick); done
  timeout "${PROBE_TIMEOUT:-120}" bash "$here/lab/run.sh" "$out/probe" --only cases,bench --cases Wgmma --bench gemm_,_amp \
    --half-ldmatrix wgmma "${probe_args[@]}" 2>&1 | tee -a "$out/lab.log"
  [ -f "$out/probe/results.jsonl" ] && grep -E '"section":"(case|bench)"' "$out/probe/results.jsonl" | sed 's/^{"section":"bench"/{"section":"bench","run":"wgmma"/' >>"$out/results.jsonl"
  rm -rf "$out/probe"
fi

# Nsight Compute on one kernel of the kernel lab, where ncu is installed (NCU_VARIANT= to skip):
# the lab's variant NCU_VARIANT alone, its kernel NCU_KERNEL (a regex) profiled once after two
# launches, clocks left alone. The report goes to ncu.txt.
if [ -n "${NCU_VARIANT-ldmatrix-128x128-w64x64+async}" ] && command -v ncu >/dev/null; then
  echo "== ncu ${NCU_VARIANT-ldmatrix-128x128-w64x64+async} (${NCU_KERNEL:-Async})"
  timeout "${NCU_TIMEOUT:-120}" ncu --clock-control none --kernel-name "regex:${NCU_KERNEL:-Async}" --launch-skip 2 --launch-count 1 \
    --section SpeedOfLight --section LaunchStats --section Occupancy --section SchedulerStats --section WarpStateStats \
    --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section InstructionStats \
    bash "$here/lab/run.sh" "$out/ncu-lab" --only kernels --variant "${NCU_VARIANT-ldmatrix-128x128-w64x64+async}" >"$out/ncu.txt" 2>&1
  echo "ncu exit code $? ($(wc -l <"$out/ncu.txt") lines in ncu.txt)"
  rm -rf "$out/ncu-lab"
fi
# The device tool brings back at most 8 files: ILGPU's device description (also in lab.log) and
# PyTorch's log join host.txt.
for f in device.txt torch_baseline.log; do
  [ -f "$out/$f" ] && { echo "== $f"; cat "$out/$f"; } >>"$out/host.txt" && rm -f "$out/$f"
done
# benchmarks/results/<card>.md, ready to commit: the card (h100, h200, else the GPU's name), then summary.md
# (cases, timings in the three pairings, training), report.md (floors, paired ratios, peak memory) and
# profile.md, which it replaces in OUTDIR (the device tool brings back at most 8 files).
card=$( (nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || echo unknown) | head -1 | tr 'A-Z' 'a-z' )
case "$card" in *h100*) card=h100 ;; *h200*) card=h200 ;; *) card=$(echo "$card" | sed 's/^nvidia //; s/[^a-z0-9]\+/-/g; s/^-//; s/-$//') ;; esac
{
  echo "# NativeCnn on $card: the issue 18 run ($(date -u '+%Y-%m-%d %H:%M') UTC)"
  echo
  echo "Written by benchmarks/gpu/run.sh (args: $*); lab exit code $code. Sections: the lab's summary.md, report.md, profile.md."
  for f in summary.md report.md profile.md; do
    [ -f "$out/$f" ] && { echo; echo "<!-- $f -->"; sed 's/^#/##/' "$out/$f"; rm -f "$out/$f"; }
  done
} >"$out/$card.md"
echo "wrote $out/$card.md: copy it to benchmarks/results/$card.md"
echo "lab exit code $code (0 all passed, 1 a case failed or a section crashed, 2 no device, 124 timed out); results in $out"
exit "$code"
