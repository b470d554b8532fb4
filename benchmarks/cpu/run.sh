#!/usr/bin/env bash
# CPU side-by-side sittings: PyTorch's baseline and `nativecnn bench` on each CPU kernel path, one
# after the other, SITTINGS times, then a table per path with each case's median over the sittings,
# its spread (min-max) and the ratio to PyTorch's median; the load average is recorded beside every
# sitting, because this project's machines are shared. Needs Debian's python3-torch for the baseline
# (apt-get install python3-torch; /usr/bin/python3); the NativeCnn side needs only the .NET SDK.
#   usage: bash benchmarks/cpu/run.sh OUTDIR [SITTINGS (3)] [PATHS ("auto avx2")]
#   e.g.   bash benchmarks/cpu/run.sh /tmp/cpu-sittings 3 "auto avx2"
# PATHS are `nativecnn bench --cpu-path` values (auto, avx512, avx2, portable). BDN=1 also runs the
# BenchmarkDotNet suites once at the end (OUTDIR/nativecnn.md). BENCH_ARGS adds bench options (e.g.
# "--cases conv3x3"); TORCH=0 skips the baseline. OUTDIR/summary.md is the result.
set -euo pipefail
out=${1:?usage: run.sh OUTDIR [SITTINGS] [PATHS]}
sittings=${2:-3}
paths=${3:-auto avx2}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
{ lscpu | grep -E 'Model name|^CPU\(s\)|CPU family|^Model:|L1d|L2|L3|Flags' | sed 's/Flags:.*\(avx512f\).*/Flags: ... avx512f .../'; } > "$out/machine.txt"
baseline="$root/../shared/reference/torch_baseline.py"
cd "$root"
dotnet build -c Release src/NativeCnn.Cli > "$out/build.log" 2>&1 || { echo "build failed: see $out/build.log"; exit 1; }
cli="$root/src/NativeCnn.Cli/bin/Release/net10.0/NativeCnn.Cli.dll"
havetorch=0
if [ "${TORCH:-1}" = 1 ] && [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null && [ -f "$baseline" ]; then havetorch=1; fi
for s in $(seq 1 "$sittings"); do
  echo "sitting $s start $(date -u +%H:%M:%S) $(uptime | sed 's/.*load average/load average/')" | tee -a "$out/sittings.log"
  if [ $havetorch = 1 ]; then
    /usr/bin/python3 "$baseline" --device cpu > "$out/torch-$s.jsonl"
  else
    echo "no PyTorch baseline this sitting" > "$out/torch-$s.jsonl"
  fi
  for p in $paths; do
    torcharg=(); [ $havetorch = 1 ] && torcharg=(--torch "$out/torch-$s.jsonl")
    dotnet "$cli" bench --device cpu --cpu-path "$p" ${BENCH_ARGS:-} "${torcharg[@]}" --out "$out/report-$p-$s.md" > "$out/bench-$p-$s.txt" 2>&1 \
      || echo "nativecnn bench ($p) failed: see $out/bench-$p-$s.txt"
    echo "  path $p done $(date -u +%H:%M:%S) $(uptime | sed 's/.*load average/load average/')" | tee -a "$out/sittings.log"
  done
done
/usr/bin/python3 "$root/benchmarks/cpu/summarize.py" "$out" $paths > "$out/summary.md"
if [ "${BDN:-0}" = 1 ]; then
  dotnet run -c Release --project benchmarks/NativeCnn.Benchmarks -- \
    --filter '*GemmBenchmarks*' '*ConvBenchmarks.conv*' '*TrainStepBenchmarks*' \
    --artifacts "$out/bdn" > "$out/nativecnn.log" 2>&1
  cat "$out"/bdn/results/*.md > "$out/nativecnn.md"
fi
cat "$out/summary.md"
echo "results in $out"
