#!/usr/bin/env bash
# Packs NativeCnn into a temporary local feed, then builds every sample against that package (never the
# project) and runs it in its small mode: what a user does with the package, checked in CI (.ci/run).
# Must hold: NativeCnn comes only from the fresh feed (a version no cache can hold: 0.1.0-ci.<time>); the
# other packages (ILGPU, ImageSharp, logging) come from the machine's NuGet cache, so no network is needed
# once the solution has been restored; every run is bounded in time; the exit code is non-zero if any
# sample fails to build or reports a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version="0.1.0-ci.$(date +%s)"
feed="$work/feed"

echo "== pack NativeCnn $version into $feed"
dotnet pack src/NativeCnn -c Release -o "$feed" -p:Version="$version" -nologo -v:q
dotnet pack src/NativeCnn.Datasets.Mnist -c Release -o "$feed" -p:Version="$version" -nologo -v:q
ls "$feed"

global=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: *//')
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="feed" value="$feed" />
  </packageSources>
  <fallbackPackageFolders>
    <clear />
    <add key="machine-cache" value="$global" />
  </fallbackPackageFolders>
</configuration>
XML
# A packages folder of this run only: the fresh NativeCnn is extracted here, nowhere else.
export NUGET_PACKAGES="$work/packages"
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"

for s in Tour QuickStart CustomModel WebService; do
  echo "== build samples/$s against the package"
  dotnet restore "samples/$s" --configfile "$work/nuget.config" -p:NativeCnnVersion="$version" -nologo -v:q
  dotnet build "samples/$s" -c Release --no-restore -p:NativeCnnVersion="$version" -o "$work/bin/$s" -nologo -v:q
  # The package, not a project: the restored NativeCnn is the packed one.
  grep -q "\"NativeCnn/$version\"" "samples/$s/obj/project.assets.json"
done

# What the package carries, as restore extracted it: the engine, the kernels inside it, the XML docs, the
# licence and readme; the symbols package beside it.
pkg="$NUGET_PACKAGES/nativecnn/$version"
for f in lib/net10.0/NativeCnn.dll lib/net10.0/NativeCnn.Kernels.dll lib/net10.0/NativeCnn.xml LICENSE README.md; do
  test -s "$pkg/$f" || { echo "the package lacks $f"; exit 1; }
done
test -s "$feed/NativeCnn.$version.snupkg" || { echo "no symbols package"; exit 1; }
grep -q "<license type=\"expression\">MIT</license>" "$pkg/nativecnn.nuspec"
if grep -q "NativeCnn.Kernels" "$pkg/nativecnn.nuspec"; then echo "the package depends on a NativeCnn.Kernels package"; exit 1; fi
echo "package: engine, kernels, XML docs, licence, readme, symbols; no NativeCnn.Kernels dependency"

run() { echo "== run $*"; timeout 300 dotnet "$@"; }
run "$work/bin/QuickStart/QuickStart.dll" --demo
run "$work/bin/CustomModel/CustomModel.dll"
run "$work/bin/Tour/Tour.dll"
run "$work/bin/WebService/WebService.dll" --model "$TMPDIR/nativecnn-quickstart-model" --self-test "$TMPDIR/nativecnn-quickstart/bright/0.png"
echo "== every sample built against NativeCnn $version and ran"
