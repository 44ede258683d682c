using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Multistream;
using P2PNet.Security.Noise;

namespace P2PNet.Cli.Commands;

/// <summary>What every command shares: key loading, host creation, error reporting, signal handling, JSON output.</summary>
internal static class CliSupport
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    /// <summary>Runs a command body, turning failures into one clear stderr line and a non-zero exit code.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("error: cancelled").ConfigureAwait(false);
            return 130;
        }
        catch (Exception e) when (Describe(e) is { } message)
        {
            await Console.Error.WriteLineAsync("error: " + message).ConfigureAwait(false);
            return 1;
        }
    }

    private static string? Describe(Exception e) => e switch
    {
        WireFormatException => e.Message,
        NoiseHandshakeException => "secure handshake failed: " + e.Message,
        ProtocolNotSupportedException => "protocol not supported: " + e.Message,
        TimeoutException => e.Message,
        FileNotFoundException f => $"file not found: {f.FileName}",
        IOException => e.Message,
        UnauthorizedAccessException => e.Message,
        ArgumentException => e.Message,
        NotSupportedException => e.Message,
        InvalidOperationException => e.Message,
        _ => null,
    };

    public static PrivateKey LoadOrCreateKey(string? path) =>
        path is null ? PrivateKey.GenerateEd25519() : PrivateKey.ReadFile(path);

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

    public static void WriteJson<T>(T value)
    {
        Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));
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
