using System.CommandLine;
using P2PNet.Crypto;

namespace P2PNet.Cli.Commands;

/// <summary><c>p2pnet key new --out FILE</c> and <c>p2pnet id --key FILE</c>.</summary>
internal static class KeyCommands
{
    public static Command Create()
    {
        var key = new Command("key", "Manage identity key files (libp2p protobuf-encoded private keys).");
        var @new = new Command("new", "Write a new Ed25519 identity key file and print its peer id.");
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
            using var identity = PrivateKey.GenerateEd25519();
            identity.WriteFile(path);
            string peer = identity.PublicKey.ToPeerId().ToString();
            CliSupport.WriteLine(peer, new EventLine("key") { Peer = peer });
            return Task.FromResult(0);
        }));
        key.Subcommands.Add(@new);
        return key;
    }

    public static Command CreateId()
    {
        var id = new Command("id", "Print the peer id of an identity key file.");
        var keyFile = new Option<string>("--key") { Description = "The key file.", Required = true };
        id.Options.Add(keyFile);
        id.SetAction((parse, _) => CliSupport.RunAsync(() =>
        {
            using var identity = CliSupport.ReadKey(parse.GetValue(keyFile)!);
            string peer = identity.PublicKey.ToPeerId().ToString();
            CliSupport.WriteLine(peer, new EventLine("id") { Peer = peer });
            return Task.FromResult(0);
        }));
        return id;
    }
}
