# Sourced by the bench scripts that run the p2pnet tool (ROOT set to the repository): sets DLL to the tool published
# ReadyToRun, as a deployment runs it (docs/vpn.md: the first packets after a join do not wait for the JIT), publishing
# it first. P2PNET_DLL runs another build instead (an older one, to compare).
if [ -z "${P2PNET_DLL:-}" ]; then
  dotnet publish "$ROOT/samples/P2PNet.Cli" -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
    -o "$ROOT/samples/P2PNet.Cli/bin/Release/net10.0/linux-x64/r2r" >/dev/null
fi
DLL=${P2PNET_DLL:-$ROOT/samples/P2PNet.Cli/bin/Release/net10.0/linux-x64/r2r/p2pnet.dll}
