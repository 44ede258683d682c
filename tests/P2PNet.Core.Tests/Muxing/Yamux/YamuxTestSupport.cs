using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Muxing;

/// <summary>A started client (dialer) and server (listener) session over a transport pair.</summary>
internal sealed class YamuxSessionPair : IAsyncDisposable
{
    private readonly TransportPair _transport;

    private YamuxSessionPair(TransportPair transport, YamuxSession client, YamuxSession server)
    {
        _transport = transport;
        Client = client;
        Server = server;
    }

    public YamuxSession Client { get; }

    public YamuxSession Server { get; }

    public static YamuxSessionPair Start(TransportPair transport, YamuxOptions? options = null, ILogger? logger = null)
    {
        var client = new YamuxSession(transport.Dialer, isClient: true, options ?? new YamuxOptions(), logger ?? NullLogger.Instance);
        var server = new YamuxSession(transport.Listener, isClient: false, options ?? new YamuxOptions(), logger ?? NullLogger.Instance);
        client.Start();
        server.Start();
        return new YamuxSessionPair(transport, client, server);
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync().AsTask().WaitAsync(YamuxTest.Timeout);
        await Server.DisposeAsync().AsTask().WaitAsync(YamuxTest.Timeout);
        await _transport.DisposeAsync();
    }
}

internal static class YamuxTest
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Reads a stream to its end.</summary>
    public static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        using var collected = new MemoryStream();
        await stream.CopyToAsync(collected).WaitAsync(Timeout);
        return collected.ToArray();
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes.</summary>
    public static async Task<byte[]> ReadExactlyAsync(Stream stream, int count)
    {
        byte[] buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Timeout);
        return buffer;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds.</summary>
    public static Task WaitUntilAsync(Func<bool> condition, string what) =>
        Conditions.WaitUntilAsync(condition, Timeout, $"Timed out waiting until {what}.");

    public static byte[] RandomBytes(int count, int seed)
    {
        byte[] data = new byte[count];
        new Random(seed).NextBytes(data);
        return data;
    }
}

/// <summary>A hand-driven yamux peer: writes raw frames and reads the session's frames, for hostile-input tests.</summary>
internal sealed class RawYamuxPeer
{
    private readonly IDuplexPipe _pipe;
    private int _pings;

    public RawYamuxPeer(IDuplexPipe pipe) => _pipe = pipe;

    public async Task SendAsync(YamuxFrameHeader header, ReadOnlyMemory<byte> payload = default)
    {
        YamuxFrameCodec.WriteHeader(_pipe.Output, header);
        _pipe.Output.Write(payload.Span);
        await _pipe.Output.FlushAsync().AsTask().WaitAsync(YamuxTest.Timeout);
    }

    /// <summary>
    /// Pings the session and waits for its answer: everything sent before has been processed by then (frames are handled
    /// in order).
    /// </summary>
    public async Task RoundTripAsync()
    {
        uint opaque = (uint)Interlocked.Increment(ref _pings) + 0x7000_0000;
        await SendAsync(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, opaque));
        await ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping && h.HasFlag(YamuxFrameFlags.Ack) && h.Length == opaque, includePings: true);
    }

    public async Task SendRawAsync(byte[] bytes)
    {
        await _pipe.Output.WriteAsync(bytes).AsTask().WaitAsync(YamuxTest.Timeout);
    }

    /// <summary>Reads the next frame (skipping the session's Ping requests unless asked for them), or null at the end.</summary>
    public async Task<(YamuxFrameHeader Header, byte[] Payload)?> ReceiveAsync(bool includePings = false)
    {
        while (true)
        {
            (YamuxFrameHeader Header, byte[] Payload)? frame = await ReceiveAnyAsync();
            if (frame is null || includePings || !(frame.Value.Header.Type == YamuxFrameType.Ping && frame.Value.Header.HasFlag(YamuxFrameFlags.Syn)))
            {
                return frame;
            }
        }
    }

    /// <summary>Reads frames until one matches, failing at the end of the connection.</summary>
    public async Task<(YamuxFrameHeader Header, byte[] Payload)> ReceiveUntilAsync(Func<YamuxFrameHeader, bool> match, bool includePings = false)
    {
        while (true)
        {
            (YamuxFrameHeader Header, byte[] Payload)? frame = await ReceiveAsync(includePings)
                ?? throw new InvalidOperationException("The connection ended before the expected frame.");
            if (match(frame.Value.Header))
            {
                return frame.Value;
            }
        }
    }

    private async Task<(YamuxFrameHeader, byte[])?> ReceiveAnyAsync()
    {
        PipeReader input = _pipe.Input;
        while (true)
        {
            ReadResult result = await input.ReadAsync().AsTask().WaitAsync(YamuxTest.Timeout);
            ReadOnlySequence<byte> buffer = result.Buffer;
            ReadOnlySequence<byte> rest = buffer;
            if (YamuxFrameCodec.TryReadHeader(ref rest, out YamuxFrameHeader header))
            {
                long payloadLength = header.Type == YamuxFrameType.Data ? header.Length : 0;
                if (rest.Length >= payloadLength)
                {
                    byte[] payload = rest.Slice(0, payloadLength).ToArray();
                    input.AdvanceTo(rest.GetPosition(payloadLength));
                    return (header, payload);
                }
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return null;
            }
        }
    }
}

/// <summary>Captures log entries so tests can check that a reason was logged.</summary>
internal sealed class CapturingLogger : ILogger
{
    private readonly List<(LogLevel Level, EventId Id, string Message, Exception? Exception)> _entries = [];

    public IReadOnlyList<(LogLevel Level, EventId Id, string Message, Exception? Exception)> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries)
        {
            _entries.Add((logLevel, eventId, formatter(state, exception), exception));
        }
    }
}
