#!/usr/bin/env bash
# CPU side-by-side run: PyTorch's baseline and NativeCnn's BenchmarkDotNet suites in one sitting on
# one machine, so results/cpu.md can quote ratios. Needs Debian's python3-torch for the baseline
# (apt-get install python3-torch); the NativeCnn side needs only the .NET SDK. OUTDIR/report.md is
# `nativecnn bench`'s side-by-side report with the floors; OUTDIR/nativecnn.md BenchmarkDotNet's tables.
#   usage: bash benchmarks/cpu/run.sh OUTDIR
set -euo pipefail
out=${1:?usage: run.sh OUTDIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
{ lscpu | grep -E 'Model name|^CPU\(s\)'; uptime; } > "$out/machine.txt"
baseline="$root/../shared/reference/torch_baseline.py"
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null && [ -f "$baseline" ]; then
  /usr/bin/python3 "$baseline" --device cpu > "$out/torch-cpu.jsonl"
else
  echo "no PyTorch or no torch_baseline.py: baseline skipped" | tee "$out/torch-cpu.jsonl"
fi
cd "$root"
# nativecnn bench: every case of the baseline under its name, with the floors, beside PyTorch's numbers
dotnet run -c Release --project src/NativeCnn.Cli -- bench --torch "$out/torch-cpu.jsonl" --out "$out/report.md" > "$out/bench.log" 2>&1 || echo "nativecnn bench failed: see $out/bench.log"
dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- \
  --filter '*GemmBenchmarks*' '*ConvBenchmarks.conv*' '*TrainStepBenchmarks*' \
  --artifacts "$out/bdn" > "$out/nativecnn.log" 2>&1
cat "$out"/bdn/results/*.md > "$out/nativecnn.md"
uptime >> "$out/machine.txt"
echo "results in $out"
