using System.CommandLine;
using P2PNet.Security.Pnet;

namespace P2PNet.Cli.Commands;

/// <summary><c>p2pnet swarm …</c>: private swarms.</summary>
internal static class SwarmCommands
{
    public static Command Create()
    {
        var swarm = new Command("swarm", "Private swarms (pre-shared-key networks).");
        var key = new Command("key", "Swarm key files.");
        var @new = new Command("new", "Write a new swarm key file (/key/swarm/psk/1.0.0/, base16) and print its fingerprint.");
        var output = new Option<string>("--out") { Description = "The file to write.", Required = true };
        var force = new Option<bool>("--force") { Description = "Overwrite an existing file." };
        @new.Options.Add(output);
        @new.Options.Add(force);
        @new.SetAction((parse, _) => CliSupport.RunAsync(() =>
        {
            string path = parse.GetValue(output)!;
            if (File.Exists(path) && !parse.GetValue(force))
            {
                throw new IOException($"'{path}' exists; pass --force to overwrite it.");
            }
            var swarmKey = SwarmKey.Generate();
            swarmKey.WriteFile(path);
            Console.Out.WriteLine(swarmKey.FingerprintHex);
            return Task.FromResult(0);
        }));
        key.Subcommands.Add(@new);
        swarm.Subcommands.Add(key);
        return swarm;
    }
}
