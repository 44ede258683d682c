using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using P2PNet.Core.Tests.Muxing;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Multistream;
using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;
using P2PNet.Protocols.Echo;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Host;

/// <summary>
/// Optimistic ("lazy") multistream-select on outbound streams with one protocol: the stream is returned before the
/// peer's answer, and a refusal or a broken answer surfaces on the next operation. Real hosts over TCP for the answers a
/// P2PNet peer gives; a Yamux session pair over a real TCP socket for the hostile answers it never gives.
/// </summary>
public sealed class OptimisticStreamTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private const string Unserved = "/nobody/serves/this/1.0.0";
    private const string Proposed = "/app/optimistic/1.0.0";

    private Task<TestHostGroup> StartAsync(int count) =>
        TestHostGroup.StartAsync(count, null, XunitLoggerProvider.CreateFactory(output)).WaitAsync(Timeout);

    // ---- a P2PNet peer ----

    [Fact]
    public async Task OpenStream_ToUnservedProtocol_ReturnsAStream_WhoseFirstReadThrowsProtocolNotSupported()
    {
        await using var swarm = await StartAsync(2);
        swarm[1].SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        await using var stream = await connection.OpenStreamAsync(Unserved).AsTask().WaitAsync(Timeout);
        var error = await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => stream.ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout));
        Assert.Equal([Unserved], error.Protocols);
        // The stream was reset, and the connection keeps working.
        await Assert.ThrowsAsync<StreamResetException>(() => stream.ReadsClosed.WaitAsync(Timeout));
        Assert.Equal(new byte[] { 1, 2, 3 }, await EchoClient.EchoAsync(connection, [1, 2, 3]).WaitAsync(Timeout));
    }

    [Fact]
    public async Task PipeRead_OnRefusedStream_ThrowsProtocolNotSupported()
    {
        await using var swarm = await StartAsync(2);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        await using var stream = await connection.OpenStreamAsync(Unserved).AsTask().WaitAsync(Timeout);
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => stream.Input.ReadAsync().AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Write_AfterTheRefusalArrived_ThrowsProtocolNotSupported_NotAReset()
    {
        await using var swarm = await StartAsync(2);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        await using var stream = await connection.OpenStreamAsync(Unserved).AsTask().WaitAsync(Timeout);
        // The refusal resets the stream: wait for that, never reading.
        await Assert.ThrowsAsync<StreamResetException>(() => stream.ReadsClosed.WaitAsync(Timeout));
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => stream.WriteAsync(new byte[] { 1 }).AsTask().WaitAsync(Timeout));
        // Reported once: disposal does not throw it again.
        await stream.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task WriteOnlyProtocol_Refused_CompleteWritesThrowsProtocolNotSupported()
    {
        await using var swarm = await StartAsync(2);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        // Nothing written before closing: a P2PNet responder would read such data as its next proposal and reset the
        // stream, which shows as a reset rather than as the refusal (see the hostile-peer test below for data + refusal).
        await using var stream = await connection.OpenStreamAsync(Unserved).AsTask().WaitAsync(Timeout);
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task WriteOnlyProtocol_Refused_NeverReadNorClosed_DisposeAsyncThrowsProtocolNotSupported()
    {
        await using var swarm = await StartAsync(2);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        var stream = await connection.OpenStreamAsync(Unserved).AsTask().WaitAsync(Timeout);
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => stream.DisposeAsync().AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task WriteOnlyProtocol_Accepted_HandlerGetsExactlyTheData_AndDisposeConsumesTheEcho()
    {
        await using var swarm = await StartAsync(2);
        var received = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        swarm[1].SetStreamHandler(Proposed, async (s, ct) =>
        {
            using var all = new MemoryStream();
            await s.CopyToAsync(all, ct);
            received.TrySetResult(all.ToArray());
        });
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        var stream = await connection.OpenStreamAsync(Proposed).AsTask().WaitAsync(Timeout);
        Assert.Equal(Proposed, stream.Protocol);
        await stream.WriteAsync("write only"u8.ToArray()).AsTask().WaitAsync(Timeout);
        await stream.DisposeAsync().AsTask().WaitAsync(Timeout); // waits for the echo; no refusal to report
        Assert.Equal("write only"u8.ToArray(), await received.Task.WaitAsync(Timeout));
    }

    [Fact]
    public async Task EnsureNegotiated_OnRefusedStream_ThrowsProtocolNotSupported_AndOnAcceptedStreamCompletes()
    {
        await using var swarm = await StartAsync(2);
        swarm[1].SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        await using (var refused = await connection.OpenStreamAsync(Unserved).AsTask().WaitAsync(Timeout))
        {
            await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => refused.EnsureNegotiatedAsync().AsTask().WaitAsync(Timeout));
        }
        await using var accepted = await connection.OpenStreamAsync(EchoProtocol.Id).AsTask().WaitAsync(Timeout);
        await accepted.EnsureNegotiatedAsync().AsTask().WaitAsync(Timeout);
        await accepted.WriteAsync(new byte[] { 7 }, completeWrites: true).AsTask().WaitAsync(Timeout);
        Assert.Equal(new byte[] { 7 }, await YamuxTest.ReadExactlyAsync(accepted, 1).WaitAsync(Timeout));
    }

    [Fact]
    public async Task OpenStream_WithSeveralProtocolsAllRefused_StillThrowsAtOpen()
    {
        await using var swarm = await StartAsync(2);
        var connection = await swarm[0].DialAsync(swarm[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var error = await Assert.ThrowsAsync<ProtocolNotSupportedException>(
            () => connection.OpenStreamAsync([Unserved, "/nor/this/1.0.0"]).AsTask().WaitAsync(Timeout));
        Assert.Equal([Unserved, "/nor/this/1.0.0"], error.Protocols);
    }

    // ---- a hostile peer (a raw Yamux stream over TCP) ----

    [Fact]
    public async Task OptimisticOpen_SendsHeaderProposalAndData_BeforeThePeerAnswers_ThenReadsPastTheEcho()
    {
        await using var pair = YamuxSessionPair.Start(await TestTransports.CreateTcpAsync());
        await using var stream = await OpenOptimisticAsync(pair.Client, Proposed, Timeout);
        await stream.WriteAsync("ping"u8.ToArray()).AsTask().WaitAsync(Timeout);

        var raw = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        byte[] expected = [.. Messages(MultistreamMessage.ProtocolId, Proposed), .. "ping"u8.ToArray()];
        // Everything arrived although the peer has answered nothing yet.
        Assert.Equal(expected, await YamuxTest.ReadExactlyAsync(raw, expected.Length).WaitAsync(Timeout));

        byte[] answer = [.. Messages(MultistreamMessage.ProtocolId, Proposed), .. "pong"u8.ToArray()];
        await raw.WriteAsync(answer).AsTask().WaitAsync(Timeout);
        Assert.Equal("pong"u8.ToArray(), await YamuxTest.ReadExactlyAsync(stream, 4).WaitAsync(Timeout));
    }

    [Fact]
    public async Task PeerClosesBeforeTheEcho_FirstReadThrowsEndOfStream_AndTheStreamIsReset()
    {
        await using var pair = YamuxSessionPair.Start(await TestTransports.CreateTcpAsync());
        await using var stream = await OpenOptimisticAsync(pair.Client, Proposed, Timeout);
        var raw = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        await raw.WriteAsync(Messages(MultistreamMessage.ProtocolId), completeWrites: true).AsTask().WaitAsync(Timeout);

        await Assert.ThrowsAsync<EndOfStreamException>(() => stream.ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout));
        await Assert.ThrowsAsync<StreamResetException>(() => stream.WritesClosed.WaitAsync(Timeout));
        await Assert.ThrowsAsync<StreamResetException>(() => raw.ReadsClosed.WaitAsync(Timeout));
    }

    [Fact]
    public async Task PeerEchoesAnotherProtocol_FirstReadThrowsProtocolViolation()
    {
        await using var pair = YamuxSessionPair.Start(await TestTransports.CreateTcpAsync());
        await using var stream = await OpenOptimisticAsync(pair.Client, Proposed, Timeout);
        var raw = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        await raw.WriteAsync(Messages(MultistreamMessage.ProtocolId, "/something/else/1.0.0")).AsTask().WaitAsync(Timeout);

        await Assert.ThrowsAsync<ProtocolViolationException>(() => stream.ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout));
        await Assert.ThrowsAsync<StreamResetException>(() => raw.ReadsClosed.WaitAsync(Timeout));
    }

    [Fact]
    public async Task PeerSendsGarbageInsteadOfTheHeader_FirstReadThrowsAndTheStreamIsReset()
    {
        await using var pair = YamuxSessionPair.Start(await TestTransports.CreateTcpAsync());
        await using var stream = await OpenOptimisticAsync(pair.Client, Proposed, Timeout);
        var raw = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        await raw.WriteAsync("HTTP/1.1 400 Bad Request\r\n\r\n"u8.ToArray()).AsTask().WaitAsync(Timeout);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => stream.ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout));
        Assert.True(error is ProtocolViolationException or WireFormatException, error.GetType().Name);
        await Assert.ThrowsAsync<StreamResetException>(() => raw.ReadsClosed.WaitAsync(Timeout));
    }

    [Fact]
    public async Task PeerNeverAnswers_ReadThrowsTimeout_AfterTheNegotiationTimeout()
    {
        await using var pair = YamuxSessionPair.Start(await TestTransports.CreateTcpAsync());
        await using var stream = await OpenOptimisticAsync(pair.Client, Proposed, TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAsync<TimeoutException>(() => stream.ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task PeerRefuses_AWriteOnlyCallerThatNeverReads_LearnsItWhenClosing()
    {
        await using var pair = YamuxSessionPair.Start(await TestTransports.CreateTcpAsync());
        var stream = await OpenOptimisticAsync(pair.Client, Proposed, Timeout);
        await stream.WriteAsync("data"u8.ToArray()).AsTask().WaitAsync(Timeout); // before any answer: goes out
        var raw = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        await raw.WriteAsync(Messages(MultistreamMessage.ProtocolId, MultistreamMessage.NotAvailable)).AsTask().WaitAsync(Timeout);

        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout));
        await stream.DisposeAsync().AsTask().WaitAsync(Timeout); // reported once
    }

    [Fact]
    public async Task PeerAnswersInPieces_TheEchoIsStillRecognised()
    {
        await using var pair = YamuxSessionPair.Start(await TestTransports.CreateTcpAsync());
        await using var stream = await OpenOptimisticAsync(pair.Client, Proposed, Timeout);
        var raw = await pair.Server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        byte[] answer = [.. Messages(MultistreamMessage.ProtocolId, Proposed), .. "data"u8.ToArray()];
        Task<byte[]> read = YamuxTest.ReadExactlyAsync(stream, 4);
        foreach (byte b in answer)
        {
            await raw.WriteAsync(new[] { b }).AsTask().WaitAsync(Timeout);
        }
        Assert.Equal("data"u8.ToArray(), await read.WaitAsync(Timeout));
    }

    private static async Task<P2PStream> OpenOptimisticAsync(YamuxSession session, string protocol, TimeSpan timeout)
    {
        // What P2PConnection.OpenStreamAsync does for one protocol, without a host (the stream has no connection).
        MuxedStream muxed = await session.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await MultistreamSelect.ProposeAsync(muxed.Output, protocol, CancellationToken.None).AsTask().WaitAsync(Timeout);
        Task<Exception?> echo = OptimisticNegotiation.ReadEchoAsync(muxed, protocol, "the test peer", timeout, CancellationToken.None);
        return new P2PStream(muxed, protocol, connection: null!, onDisposed: null, echo);
    }

    private static byte[] Messages(params string[] messages)
    {
        var writer = new ArrayBufferWriter<byte>();
        foreach (string message in messages)
        {
            MultistreamMessage.Write(writer, message);
        }
        return writer.WrittenSpan.ToArray();
    }
}
