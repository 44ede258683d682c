using System.CommandLine;

namespace P2PNet.Cli.Commands;

/// <summary><c>p2pnet key …</c>: identity key files.</summary>
internal static class KeyCommands
{
    public static Command Create()
    {
        var key = new Command("key", "Manage identity key files.");
        return key;
    }
}
