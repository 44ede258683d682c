using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using Google.Protobuf.WellKnownTypes;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Muxing;
using P2PNet.Networking;
using P2PNet.Protocols.Echo;
using P2PNet.Protocols.Perf;
using P2PNet.Protocols.Ping;
using P2PNet.Security.Noise;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Host;

/// <summary>Streams: protocol negotiation, echo, many concurrent streams, perf, a failing handler.</summary>
public sealed partial class HostTests
{
    [Fact]
    public async Task OpenStream_UnknownProtocol_ThrowsProtocolNotSupported_AndConnectionKeepsWorking()
    {
        await using var hosts = await StartAsync(2);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        // One protocol is proposed optimistically: the refusal surfaces on the first read (see OptimisticStreamTests).
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(async () =>
        {
            await using var stream = await connection.OpenStreamAsync("/nobody/serves/this").AsTask().WaitAsync(Timeout);
            await stream.ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout);
        });
        await foreach (var _ in PingProtocol.PingAsync(connection, 1).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }
    }

    [Fact]
    public async Task OpenStream_SecondChoiceProtocol_IsNegotiated()
    {
        await using var hosts = await StartAsync(2);
        hosts[1].SetStreamHandler("/app/v1", EchoProtocol.HandleAsync);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await using var stream = await connection.OpenStreamAsync(["/app/v2", "/app/v1"]).AsTask().WaitAsync(Timeout);
        Assert.Equal("/app/v1", stream.Protocol);
    }

    [Fact]
    public async Task Echo_OfSixteenMebibytes_ComesBackIdentical()
    {
        await using var hosts = await StartAsync(2);
        hosts[1].SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        byte[] payload = RandomNumberGenerator.GetBytes(16 * 1024 * 1024);
        byte[] echoed = await EchoClient.EchoAsync(connection, payload).WaitAsync(Timeout);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
    }

    [Fact]
    public async Task HundredConcurrentStreams_AllEchoTheirOwnData()
    {
        await using var hosts = await StartAsync(2);
        hosts[1].SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var payloads = Enumerable.Range(0, 100).Select(_ => RandomNumberGenerator.GetBytes(32 * 1024)).ToArray();
        var echoed = await Task.WhenAll(payloads.Select(p => EchoClient.EchoAsync(connection, p))).WaitAsync(Timeout);
        for (int i = 0; i < payloads.Length; i++)
        {
            Assert.Equal(payloads[i], echoed[i]);
        }
    }

    [Fact]
    public async Task Perf_UploadsAndDownloadsTheRequestedBytes()
    {
        await using var hosts = await StartAsync(2, (i, o) => o.EnablePerf = true);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var result = await PerfProtocol.RunAsync(connection, 8 * 1024 * 1024, 16 * 1024 * 1024).WaitAsync(Timeout);
        Assert.Equal(8 * 1024 * 1024, result.UploadBytes);
        Assert.Equal(16 * 1024 * 1024, result.DownloadBytes);
    }

    [Fact]
    public async Task Perf_IsNotServedUnlessEnabled()
    {
        await using var hosts = await StartAsync(2);
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => PerfProtocol.RunAsync(connection, 1, 1).WaitAsync(Timeout));
    }

    [Fact]
    public async Task StreamHandler_ThatThrows_ResetsOnlyItsStream()
    {
        await using var hosts = await StartAsync(2);
        hosts[1].SetStreamHandler("/app/broken", (s, ct) => throw new InvalidOperationException("handler bug"));
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        // The reset may arrive while we still negotiate or once we read: either way it is an IOException on this stream only.
        var error = await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            await using var stream = await connection.OpenStreamAsync("/app/broken").AsTask().WaitAsync(Timeout);
            var buffer = new byte[16];
            await stream.WriteAsync(buffer).AsTask().WaitAsync(Timeout);
            while (await stream.ReadAsync(buffer).AsTask().WaitAsync(Timeout) > 0)
            {
            }
        });
        Assert.IsType<StreamResetException>(error);
        await foreach (var _ in PingProtocol.PingAsync(connection, 1).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }
    }
}
