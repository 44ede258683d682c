using System.CommandLine;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Multistream;
using P2PNet.Security.Noise;
using P2PNet.Security.Pnet;
using P2PNet.Swarm;
using P2PNet.Vpn;

namespace P2PNet.Cli.Commands;

/// <summary>
/// What every command shares: key loading, host creation, error reporting and exit codes, <c>--json</c> and
/// <c>--timeout</c>, signal handling.
/// </summary>
internal static class CliSupport
{
    /// <summary><c>--json</c>, on every command: structured JSON lines instead of text.</summary>
    public static readonly Option<bool> JsonOption = new("--json")
    {
        Description = "Print JSON lines instead of text (errors too, on stderr).",
        Recursive = true,
    };

    /// <summary>Whether this run prints JSON lines (<c>--json</c>); set once from the parsed command line.</summary>
    public static bool JsonOutput { get; set; }

    /// <summary>A <c>--timeout</c> option for a client command.</summary>
    public static Option<double?> TimeoutOption() => new("--timeout")
    {
        Description = "Give up after this many seconds, dial included (exit code 3). Default: no limit.",
    };

    /// <summary>Runs a command body, turning failures into one clear stderr line and an exit code (<see cref="ExitCodes"/>).</summary>
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await WriteErrorAsync(ExitCodes.Interrupted, "cancelled").ConfigureAwait(false);
            return ExitCodes.Interrupted;
        }
        catch (Exception e) when (Describe(e) is { } message)
        {
            int code = ExitCodeFor(e);
            await WriteErrorAsync(code, message).ConfigureAwait(false);
            return code;
        }
    }

    /// <summary>
    /// Runs a client command's body under its <c>--timeout</c>: when the deadline passes first, the command fails with
    /// <see cref="ExitCodes.Unreachable"/> whatever the body was doing.
    /// </summary>
    public static Task<int> RunClientAsync(ParseResult parse, Option<double?> timeout, Func<CancellationToken, Task<int>> body, CancellationToken cancellationToken) =>
        RunAsync(async () =>
        {
            double? seconds = parse.GetValue(timeout);
            if (seconds is { } s && (double.IsNaN(s) || s <= 0 || s > int.MaxValue / 1000.0))
            {
                throw new ArgumentException("--timeout must be a positive number of seconds.");
            }
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (seconds is { } limit)
            {
                deadline.CancelAfter(TimeSpan.FromSeconds(limit));
            }
            try
            {
                return await body(deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"no result within {seconds:0.###} s (--timeout).", e);
            }
        });

    /// <summary>The exit code for a failure: the one place exceptions are sorted into <see cref="ExitCodes"/>.</summary>
    public static int ExitCodeFor(Exception e) => e switch
    {
        DhtNotFoundException or PeerNotFoundException => ExitCodes.NotFound,
        TimeoutException or PeerUnreachableException or SocketException => ExitCodes.Unreachable,
        ConnectionGatedException or PrivateNetworkException or VpnJoinRejectedException or Protocols.Relay.RelayRefusedException => ExitCodes.Refused,
        // The Noise handshake names a peer id mismatch in its message only (no property to test): the dialed address
        // carried another /p2p/ id than the remote's.
        NoiseHandshakeException when e.Message.StartsWith("Peer id mismatch", StringComparison.Ordinal) => ExitCodes.Refused,
        SwarmKeyExchangeException { Status: KeyExchangeStatus.Malformed } => ExitCodes.ProtocolError,
        SwarmKeyExchangeException => ExitCodes.Refused,
        NoiseHandshakeException or WireFormatException or ProtocolNotSupportedException or ProtocolViolationException => ExitCodes.ProtocolError,
        ArgumentException => ExitCodes.Usage,
        IOException { InnerException: SocketException } => ExitCodes.Unreachable,
        _ => ExitCodes.General,
    };

    private static string? Describe(Exception e) => e switch
    {
        WireFormatException => e.Message,
        DhtNotFoundException => e.Message,
        NoiseHandshakeException => "secure handshake failed: " + e.Message,
        ProtocolNotSupportedException => "protocol not supported: " + e.Message,
        TimeoutException => e.Message,
        FileNotFoundException f => $"file not found: {f.FileName}",
        IOException => e.Message,
        InvalidDataException => e.Message,
        SocketException => e.Message,
        UnauthorizedAccessException => e.Message,
        ArgumentException => e.Message,
        NotSupportedException => e.Message,
        InvalidOperationException => e.Message,
        _ => null,
    };

    /// <summary>Prints an error: <c>error: MESSAGE</c>, or with <c>--json</c> an error JSON line, on stderr.</summary>
    public static async Task WriteErrorAsync(int exitCode, string message)
    {
        string line = JsonOutput
            ? JsonSerializer.Serialize(new EventLine("error") { ExitCode = exitCode, Message = message }, CliJsonContext.Default.EventLine)
            : "error: " + message;
        await Console.Error.WriteLineAsync(line).ConfigureAwait(false);
    }

    public static PrivateKey LoadOrCreateKey(string? path) =>
        path is null ? PrivateKey.GenerateEd25519() : ReadKey(path);

    /// <summary>Reads an identity key file; a malformed file is a local failure (exit 1), not a peer's protocol error.</summary>
    public static PrivateKey ReadKey(string path)
    {
        try
        {
            return PrivateKey.ReadFile(path);
        }
        catch (WireFormatException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
    }

    public static Multiaddr ParseAddress(string text)
    {
        try
        {
            return Multiaddr.Parse(text);
        }
        catch (WireFormatException e)
        {
            throw new ArgumentException($"bad multiaddr: {e.Message}", e);
        }
    }

    public static ILoggerFactory CreateLoggerFactory(bool verbose) => LoggerFactory.Create(builder =>
    {
        builder.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        builder.SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Warning);
    });

    public static P2PHost CreateHost(PrivateKey identity, ILoggerFactory loggerFactory, Action<P2PHostOptions>? configure = null)
    {
        var options = new P2PHostOptions { Identity = identity, AgentVersion = "p2pnet-cli/" + typeof(CliSupport).Assembly.GetName().Version?.ToString(3) };
        configure?.Invoke(options);
        return new P2PHost(options, loggerFactory);
    }

    /// <summary>Prints one JSON line (a type <see cref="CliJsonContext"/> knows) on stdout.</summary>
    public static void WriteJson<T>(T value, JsonTypeInfo<T> type)
    {
        Console.Out.WriteLine(JsonSerializer.Serialize(value, type));
        Console.Out.Flush();
    }

    /// <summary>Prints one JSON line for a value whose runtime type <see cref="CliJsonContext"/> knows.</summary>
    public static void WriteJson(object value)
    {
        Console.Out.WriteLine(ToJson(value));
        Console.Out.Flush();
    }

    /// <summary>Serializes a value whose runtime type <see cref="CliJsonContext"/> knows.</summary>
    public static string ToJson(object value) => JsonSerializer.Serialize(value, value.GetType(), CliJsonContext.Default);

    /// <summary>Adds <c>--peer ID=MULTIADDR</c> entries to the host's peer store (where a peer can be dialed by id).</summary>
    /// <exception cref="ArgumentException">An entry is not ID=MULTIADDR.</exception>
    public static void AddKnownPeers(P2PHost host, IEnumerable<string> entries)
    {
        foreach (string entry in entries)
        {
            string[] parts = entry.Split('=', 2);
            if (parts.Length != 2 || !Peers.PeerId.TryParse(parts[0], out var peer))
            {
                throw new ArgumentException($"bad --peer '{entry}': expected ID=MULTIADDR.");
            }
            host.PeerStore.AddAddresses(peer, [ParseAddress(parts[1])]);
        }
    }

    /// <summary>A listen address ending in /p2p/&lt;the host's peer id&gt; (once: the host may report it with the id already).</summary>
    public static string DialableAddress(P2PHost host, Multiaddr bound) =>
        bound.GetPeerId() is null ? $"{bound}/p2p/{host.PeerId}" : bound.ToString();

    /// <summary>Prints <paramref name="text"/>, or with <c>--json</c> <paramref name="json"/> as a JSON line, on stdout.</summary>
    public static void WriteLine(string text, EventLine json)
    {
        Console.Out.WriteLine(JsonOutput ? JsonSerializer.Serialize(json, CliJsonContext.Default.EventLine) : text);
        Console.Out.Flush();
    }

    /// <summary>Completes when SIGINT or SIGTERM arrives (or <paramref name="cancellationToken"/> is cancelled).</summary>
    public static async Task WaitForShutdownAsync(CancellationToken cancellationToken)
    {
        var signalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            signalled.TrySetResult();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var registration = cancellationToken.Register(() => signalled.TrySetResult());
        await signalled.Task.ConfigureAwait(false);
    }
}
