using System.CommandLine;
using P2PNet.Cli.Commands;

// The p2pnet command-line tool. Each command group lives in Commands/ and is registered here.
var root = new RootCommand("p2pnet — run and probe P2PNet / libp2p nodes, private swarms, VPNs and bridges.");
foreach (var command in new[]
{
    KeyCommands.Create(),
    KeyCommands.CreateId(),
    SwarmCommands.Create(),
    VpnCommands.Create(),
    BridgeCommands.Create(),
})
{
    root.Subcommands.Add(command);
}
foreach (var command in NodeCommands.Create())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
