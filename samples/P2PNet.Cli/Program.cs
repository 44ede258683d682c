using System.CommandLine;
using P2PNet.Cli.Commands;

// The p2pnet command-line tool. Each command group lives in Commands/ and is registered here.
var root = new RootCommand("p2pnet — run and probe P2PNet / libp2p nodes, private swarms, VPNs and bridges.\n" + ExitCodes.HelpText);
root.Options.Add(CliSupport.JsonOption);
foreach (var command in new[]
{
    KeyCommands.Create(),
    KeyCommands.CreateId(),
    SwarmCommands.Create(),
    VpnCommands.Create(),
    BridgeCommands.Create(),
    TunnelCommands.Create(),
    NetStackCommand.Create(),
    PubSubCommand.Create(),
    DhtCommand.Create(),
    ProxyCommands.Create(),
    GatewayCommands.CreateGateway(),
    GatewayCommands.CreateNetApi(),
})
{
    root.Subcommands.Add(command);
}
foreach (var command in NodeCommands.Create())
{
    root.Subcommands.Add(command);
}

var parse = root.Parse(args);
CliSupport.JsonOutput = parse.GetValue(CliSupport.JsonOption);
if (parse.Errors.Count > 0)
{
    // A usage error has its own exit code (scripts tell it from a failure at run time); --help shows the usage.
    foreach (var error in parse.Errors)
    {
        await CliSupport.WriteErrorAsync(ExitCodes.Usage, error.Message).ConfigureAwait(false);
    }
    return ExitCodes.Usage;
}
return await parse.InvokeAsync().ConfigureAwait(false);
