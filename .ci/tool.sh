#!/usr/bin/env bash
# The `nativecnn` .NET tool as a user gets it, checked in CI (.ci/run): packs NativeCnn.Cli into a temporary
# feed, installs it with `dotnet tool install --tool-path` into a temporary tool path, then, from a folder
# outside the clone, runs `nativecnn --version` (must print the packed version) and `nativecnn train --epochs 1`
# with its output redirected (must exit 0 and print the device line, the epoch table's header and one epoch
# row on stdout, nothing on stderr: the embedded MNIST digits travel inside the tool).
# Must hold: the installed tool is the one just packed, never an older build from a cache: its version is
# one no earlier run used (0.1.0-ci.<time>.<pid>), the install sees only the fresh feed (a NuGet config that
# clears every other source) and extracts into a packages folder of this run only; a rerun on the same
# machine therefore repeats every step; every step is bounded in time; any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version="0.1.0-ci.$(date +%s).$$"
feed="$work/feed"
tools="$work/tools"

echo "== pack the nativecnn tool (NativeCnn.Cli $version) into $feed"
timeout 600 dotnet pack src/NativeCnn.Cli -c Release -o "$feed" -p:Version="$version" -nologo -v:q
nupkg="$feed/NativeCnn.Cli.$version.nupkg"
test -s "$nupkg" || { echo "no $nupkg"; exit 1; }
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="feed" value="$feed" />
  </packageSources>
</configuration>
XML
export NUGET_PACKAGES="$work/packages"

echo "== dotnet tool install --tool-path $tools NativeCnn.Cli --version $version"
timeout 300 dotnet tool install --tool-path "$tools" --configfile "$work/nuget.config" NativeCnn.Cli --version "$version"
test -x "$tools/nativecnn" || { echo "no $tools/nativecnn after the install"; exit 1; }
# What the installed tool carries: its settings (command nativecnn), the command, the engine with its kernels,
# the embedded MNIST digits and the server, as files of its own (a tool package has no dependencies).
store="$tools/.store/nativecnn.cli/$version/nativecnn.cli/$version/tools/net10.0/any"
for f in DotnetToolSettings.xml NativeCnn.Cli.dll NativeCnn.dll NativeCnn.Kernels.dll NativeCnn.Datasets.Mnist.dll NativeCnn.Serve.dll ILGPU.dll SixLabors.ImageSharp.dll; do
  test -s "$store/$f" || { echo "the installed tool lacks $store/$f"; exit 1; }
done
grep -q 'Name="nativecnn"' "$store/DotnetToolSettings.xml" || { echo "the tool's command is not nativecnn"; exit 1; }

# Run it where no repository is around.
mkdir "$work/run"
cd "$work/run"
echo "== nativecnn --version"
got=$(timeout 60 "$tools/nativecnn" --version)
echo "$got"
case "$got" in
  "$version" | "$version+"*) ;;
  *) echo "nativecnn --version printed '$got', expected $version"; exit 1 ;;
esac

echo "== nativecnn train --epochs 1 (output redirected)"
set +e
timeout 600 "$tools/nativecnn" train --epochs 1 >"$work/train.out" 2>"$work/train.err"
code=$?
set -e
cat "$work/train.out"
if [ "$code" != 0 ]; then echo "nativecnn train --epochs 1 exited with $code:"; cat "$work/train.err"; exit 1; fi
if [ -s "$work/train.err" ]; then echo "nativecnn train wrote to stderr with its output redirected:"; cat -v "$work/train.err"; exit 1; fi
grep -q '^device: ' "$work/train.out" || { echo "no device line"; exit 1; }
grep -Eq '^epoch +train_loss +valid_loss +accuracy +time *$' "$work/train.out" || { echo "no epoch table header"; exit 1; }
grep -Eq '^0 +[0-9]+\.[0-9]{6} +[0-9]+\.[0-9]{6} +[01]\.[0-9]{6} +[0-9]{2}:[0-9]{2} *$' "$work/train.out" || { echo "no epoch 0 row"; exit 1; }
test "$(wc -l <"$work/train.out")" = 3 || { echo "expected 3 lines (device, header, epoch 0)"; exit 1; }
echo "== the nativecnn tool $version packed, installed and ran from $tools"
