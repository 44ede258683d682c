namespace P2PNet.Cli.Commands;

/// <summary>
/// The tool's exit codes, so scripts can tell failures apart (printed by <c>p2pnet --help</c>, listed in the README).
/// <see cref="CliSupport.ExitCodeFor"/> maps exceptions to them in one place.
/// </summary>
internal static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>Any other failure (I/O, a file, the local system).</summary>
    public const int General = 1;

    /// <summary>The command line is wrong: unknown option, missing or bad value, bad multiaddr.</summary>
    public const int Usage = 2;

    /// <summary>The peer could not be reached, or the command did not finish within <c>--timeout</c>.</summary>
    public const int Unreachable = 3;

    /// <summary>The peer refused: another peer id than the one dialed, not authorised, gated, rejected.</summary>
    public const int Refused = 4;

    /// <summary>The peer spoke the protocol wrongly or not at all: malformed data, unsupported protocol, failed handshake.</summary>
    public const int ProtocolError = 5;

    /// <summary>A lookup finished without a result: no provider of the CID, no address of the peer (<c>dht find-providers</c>,
    /// <c>dht find-peer</c>, a dial by peer id that the DHT could not resolve).</summary>
    public const int NotFound = 6;

    /// <summary>Interrupted by SIGINT before the command finished (the shell convention 128 + 2).</summary>
    public const int Interrupted = 130;

    /// <summary>The table for <c>--help</c>.</summary>
    public const string HelpText =
        "Exit codes: 0 ok, 1 general failure, 2 usage error, 3 unreachable or timed out, "
        + "4 refused (wrong peer id, not authorised, gated), 5 protocol error, 6 not found (DHT lookups), 130 interrupted. "
        + "--json on any command prints JSON lines (errors as {\"type\":\"error\",\"exit_code\":N,\"message\":…} on stderr).";
}
