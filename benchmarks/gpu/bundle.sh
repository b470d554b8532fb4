#!/usr/bin/env bash
# Packs the GPU lab for a GPU host that has no .NET SDK: the lab program with the .NET runtime (made
# by shared/gpu/bundle.sh) in OUT/lab, and beside it torch_baseline.py, torch_conv_amp.py and run.sh (this folder's),
# which runs everything on the host. Keep OUT out of git (the default, .gpu/, is ignored).
#   usage: bash benchmarks/gpu/bundle.sh [OUT]        (default: .gpu/bundle in the repository)
#   then, on the GPU host: bash OUT/run.sh OUTDIR
# The shared folder is found at $NATIVECNN_SHARED, else beside the repository (../shared, as in CI),
# else two levels up (a worktree under wt/).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-$repo/.gpu/bundle}
shared=""
for candidate in "${NATIVECNN_SHARED:-}" "$repo/../shared" "$repo/../../shared"; do
  if [ -n "$candidate" ] && [ -f "$candidate/gpu/bundle.sh" ]; then shared=$(cd "$candidate" && pwd); break; fi
done
[ -n "$shared" ] || { echo "bundle.sh: no shared folder with gpu/bundle.sh found (set NATIVECNN_SHARED)" >&2; exit 1; }
mkdir -p "$out"
bash "$shared/gpu/bundle.sh" "$repo/benchmarks/NativeCnn.GpuLab/NativeCnn.GpuLab.csproj" "$out/lab"
cp -f "$shared/reference/torch_baseline.py" "$out/torch_baseline.py"
chmod u+w "$out/torch_baseline.py"
cp -f "$repo/benchmarks/gpu/run.sh" "$out/run.sh"
cp -f "$repo/benchmarks/gpu/torch_conv_amp.py" "$out/torch_conv_amp.py"
chmod +x "$out/run.sh"
echo "bundle: $(du -sh "$out" | cut -f1) in $out; on the GPU host: bash $out/run.sh OUTDIR"
