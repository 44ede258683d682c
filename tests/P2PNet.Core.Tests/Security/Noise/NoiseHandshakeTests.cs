using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Crypto;
using P2PNet.Security.Noise;

namespace P2PNet.Core.Tests.Security.Noise;

public sealed class NoiseHandshakeTests : IDisposable
{
    private static readonly TimeSpan Timeout = NoiseTestHarness.Timeout;
    private readonly PrivateKey _initiatorKey = PrivateKey.GenerateEd25519();
    private readonly PrivateKey _responderKey = PrivateKey.GenerateEd25519();
    private readonly NoiseIdentity _initiator;
    private readonly NoiseIdentity _responder;

    public NoiseHandshakeTests()
    {
        _initiator = new NoiseIdentity(_initiatorKey);
        _responder = new NoiseIdentity(_responderKey);
    }

    public void Dispose()
    {
        _initiator.Dispose();
        _responder.Dispose();
        _initiatorKey.Dispose();
        _responderKey.Dispose();
    }

    private Task<NoiseSecureChannel> SecureOutbound(IDuplexPipe transport, NoiseOptions? options = null, P2PNet.Peers.PeerId? expected = null, CancellationToken cancellationToken = default) =>
        NoiseHandshake.SecureOutboundAsync(transport, _initiator, expected ?? _responderKey.PublicKey.ToPeerId(), options ?? new NoiseOptions(), NullLogger.Instance, cancellationToken).AsTask();

    private Task<NoiseSecureChannel> SecureInbound(IDuplexPipe transport, NoiseOptions? options = null) =>
        NoiseHandshake.SecureInboundAsync(transport, _responder, options ?? new NoiseOptions(), NullLogger.Instance, CancellationToken.None).AsTask();

    private static async Task<byte[]> ReadFrameAsync(PipeReader reader)
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync().AsTask().WaitAsync(Timeout);
            if (result.Buffer.Length >= 2)
            {
                var header = new byte[2];
                result.Buffer.Slice(0, 2).CopyTo(header);
                int length = 2 + BinaryPrimitives.ReadUInt16BigEndian(header);
                if (result.Buffer.Length >= length)
                {
                    byte[] frame = result.Buffer.Slice(0, length).ToArray();
                    reader.AdvanceTo(result.Buffer.GetPosition(length));
                    return frame;
                }
            }
            Assert.False(result.IsCompleted, "The input ended before a whole frame.");
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private static async Task SendAndReceiveAsync(NoiseSecureChannel from, NoiseSecureChannel to, byte[] message)
    {
        await from.Output.WriteAsync(message).AsTask().WaitAsync(Timeout);
        var received = new ArrayBufferWriter<byte>();
        while (received.WrittenCount < message.Length)
        {
            ReadResult result = await to.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                received.Write(segment.Span);
            }
            to.Input.AdvanceTo(result.Buffer.End);
            Assert.False(result.IsCompleted && received.WrittenCount < message.Length, "The channel ended early.");
        }
        Assert.Equal(message, received.WrittenSpan.ToArray());
    }

    [Fact]
    public async Task Handshake_OverInMemoryPipes_AuthenticatesBothPeers()
    {
        var (left, right) = TestPipes.CreatePair();
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(left, right, _initiatorKey, _responderKey);
        await using (initiator)
        await using (responder)
        {
            Assert.Equal(_responderKey.PublicKey.ToPeerId(), initiator.RemotePeer);
            Assert.Equal(_initiatorKey.PublicKey.ToPeerId(), responder.RemotePeer);
            Assert.Equal(_responderKey.PublicKey, initiator.RemotePublicKey);
            Assert.Equal(_initiatorKey.PublicKey, responder.RemotePublicKey);
            Assert.Equal(["/yamux/1.0.0"], initiator.RemoteMuxers); // the default announcement
            await SendAndReceiveAsync(initiator, responder, "ping"u8.ToArray());
            await SendAndReceiveAsync(responder, initiator, "pong"u8.ToArray());
        }
    }

    [Fact]
    public async Task Handshake_ManyAtOnceWithOneNoiseIdentity_AllSucceedSigningTheOneStaticKey()
    {
        // The host shares one NoiseIdentity across concurrent handshakes: every payload carries the same signature,
        // over the shared static key, and every remote still checks it.
        var signatures = new System.Collections.Concurrent.ConcurrentBag<byte[]>();
        var responderOptions = new NoiseOptions { PayloadInterceptor = payload => signatures.Add(payload.IdentitySig.ToByteArray()) };
        var pairs = Enumerable.Range(0, 16).Select(_ => TestPipes.CreatePair()).ToArray();
        var channels = await Task.WhenAll(pairs.Select(async pair =>
        {
            var responding = SecureInbound(pair.Item2, responderOptions);
            var initiating = SecureOutbound(pair.Item1);
            await Task.WhenAll(responding, initiating).WaitAsync(Timeout);
            return (Initiator: await initiating, Responder: await responding);
        }));
        foreach (var (initiator, responder) in channels)
        {
            Assert.Equal(_responderKey.PublicKey.ToPeerId(), initiator.RemotePeer);
            Assert.Equal(_initiatorKey.PublicKey.ToPeerId(), responder.RemotePeer);
            await SendAndReceiveAsync(initiator, responder, "ping"u8.ToArray());
            await initiator.DisposeAsync();
            await responder.DisposeAsync();
        }
        Assert.Equal(16, signatures.Count);
        Assert.All(signatures, signature => Assert.Equal(_responder.StaticKeySignature.ToByteArray(), signature));
        Assert.True(_responderKey.PublicKey.Verify(NoiseHandshake.SignedData(_responder.StaticKey.PublicKey), _responder.StaticKeySignature.Span));
    }

    [Fact]
    public async Task Handshake_OverLoopbackTcp_AuthenticatesBothPeersAndCarriesDataBothWays()
    {
        using var tcp = await LoopbackTcp.ConnectAsync();
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(tcp.Client, tcp.Server, _initiatorKey, _responderKey);
        await using (initiator)
        await using (responder)
        {
            Assert.Equal(_responderKey.PublicKey.ToPeerId(), initiator.RemotePeer);
            Assert.Equal(_initiatorKey.PublicKey.ToPeerId(), responder.RemotePeer);
            const long Size = 8 * 1024 * 1024;
            var sending = NoiseTestHarness.WriteRandomAsync(initiator.Output, Size, seed: 1);
            var answering = NoiseTestHarness.WriteRandomAsync(responder.Output, Size, seed: 2);
            var receivedByResponder = NoiseTestHarness.ReadAllAsync(responder.Input);
            var receivedByInitiator = NoiseTestHarness.ReadAllAsync(initiator.Input);
            await Task.WhenAll(sending, answering, receivedByResponder, receivedByInitiator).WaitAsync(Timeout);
            NoiseTestHarness.AssertSame(Size, await sending, await receivedByResponder);
            NoiseTestHarness.AssertSame(Size, await answering, await receivedByInitiator);
        }
    }

    [Fact]
    public async Task Handshake_WithWrongExpectedPeer_IsRefusedNamingBothPeers()
    {
        using var someoneElse = PrivateKey.GenerateEd25519();
        var (left, right) = TestPipes.CreatePair();
        var responding = SecureInbound(right);
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(
            () => SecureOutbound(left, expected: someoneElse.PublicKey.ToPeerId()).WaitAsync(Timeout));
        Assert.Contains($"expected {someoneElse.PublicKey.ToPeerId()}, got {_responderKey.PublicKey.ToPeerId()}", error.Message, StringComparison.Ordinal);
        // The initiator dropped the connection instead of sending message 3.
        await Assert.ThrowsAsync<NoiseHandshakeException>(() => responding.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Handshake_WhenResponderSignsAnotherStaticKey_IsRefusedByTheInitiator()
    {
        var forged = new NoiseOptions
        {
            PayloadInterceptor = payload => payload.IdentitySig = ByteString.CopyFrom(_responderKey.Sign(NoiseHandshake.SignedData(RandomNumberGenerator.GetBytes(32)))),
        };
        var (left, right) = TestPipes.CreatePair();
        var responding = SecureInbound(right, forged);
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => SecureOutbound(left).WaitAsync(Timeout));
        Assert.Contains("signature", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<NoiseHandshakeException>(() => responding.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Handshake_WhenInitiatorSignsAnotherStaticKey_IsRefusedByTheResponder()
    {
        var forged = new NoiseOptions
        {
            PayloadInterceptor = payload => payload.IdentitySig = ByteString.CopyFrom(_initiatorKey.Sign(NoiseHandshake.SignedData(RandomNumberGenerator.GetBytes(32)))),
        };
        var (left, right) = TestPipes.CreatePair();
        var responding = SecureInbound(right);
        // The initiator finishes its side (it sent message 3) before the responder checks it.
        var initiating = SecureOutbound(left, forged);
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => responding.WaitAsync(Timeout));
        Assert.Contains("signature", error.Message, StringComparison.Ordinal);
        await using NoiseSecureChannel initiator = await initiating.WaitAsync(Timeout);
        // The responder dropped the connection: the initiator's input ends, cleanly or with the transport's error.
        try
        {
            ReadResult result = await initiator.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            Assert.True(result.IsCompleted);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Handshake_WhenPayloadClaimsAnotherIdentity_IsRefused()
    {
        using var impersonated = PrivateKey.GenerateEd25519();
        var forged = new NoiseOptions { PayloadInterceptor = payload => payload.IdentityKey = ByteString.CopyFrom(impersonated.PublicKey.ToProtobuf()) };
        var (left, right) = TestPipes.CreatePair();
        var responding = SecureInbound(right, forged);
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => SecureOutbound(left, expected: impersonated.PublicKey.ToPeerId()).WaitAsync(Timeout));
        Assert.Contains("signature", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<NoiseHandshakeException>(() => responding.WaitAsync(Timeout));
    }

    [Theory]
    [InlineData("unknown-key-type")]
    [InlineData("empty-identity-key")]
    [InlineData("rsa-huge-exponent")]
    [InlineData("truncated-signature")]
    public async Task Handshake_WhenPayloadCarriesAHostileIdentity_IsRefusedWithNoiseHandshakeException(string kind)
    {
        byte[] identityKey = kind switch
        {
            "unknown-key-type" => P2PNet.Core.Tests.Crypto.KeyEnvelopes.Encode(7, new byte[32]),
            "empty-identity-key" => [],
            "rsa-huge-exponent" => RsaKeyWithHugeExponent(),
            _ => _responderKey.PublicKey.ToProtobuf(),
        };
        var hostile = new NoiseOptions
        {
            PayloadInterceptor = payload =>
            {
                payload.IdentityKey = ByteString.CopyFrom(identityKey);
                if (kind == "truncated-signature")
                {
                    payload.IdentitySig = ByteString.CopyFrom(payload.IdentitySig.Span[..10]);
                }
            },
        };
        var (left, right) = TestPipes.CreatePair();
        var responding = SecureInbound(right, hostile);
        await Assert.ThrowsAsync<NoiseHandshakeException>(() => SecureOutbound(left).WaitAsync(Timeout));
        await Assert.ThrowsAsync<NoiseHandshakeException>(() => responding.WaitAsync(Timeout));
    }

    /// <summary>A real 2048-bit modulus with a 2001-bit public exponent, as PKIX in the libp2p envelope.</summary>
    private static byte[] RsaKeyWithHugeExponent()
    {
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var modulus = new System.Numerics.BigInteger(rsa.ExportParameters(false).Modulus, isUnsigned: true, isBigEndian: true);
        var key = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
        using (key.PushSequence())
        {
            key.WriteInteger(modulus);
            key.WriteInteger((System.Numerics.BigInteger.One << 2000) + 1);
        }
        var spki = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
        using (spki.PushSequence())
        {
            using (spki.PushSequence())
            {
                spki.WriteObjectIdentifier("1.2.840.113549.1.1.1");
                spki.WriteNull();
            }
            spki.WriteBitString(key.Encode());
        }
        return P2PNet.Core.Tests.Crypto.KeyEnvelopes.Encode(KeyType.Rsa, spki.Encode());
    }

    [Fact]
    public async Task Handshake_WhenPayloadIsNotAProtobuf_IsRefused()
    {
        var (left, right) = TestPipes.CreatePair();
        var broken = new NoiseOptions { PayloadInterceptor = payload => payload.IdentityKey = ByteString.CopyFrom([0xFF, 0xFF, 0xFF]) };
        var responding = SecureInbound(right, broken);
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => SecureOutbound(left).WaitAsync(Timeout));
        Assert.Contains("identity key", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<NoiseHandshakeException>(() => responding.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Handshake_WhenRemoteClosesInsideMessage2_FailsFastWithNoiseHandshakeException()
    {
        var (left, raw) = TestPipes.CreatePair();
        var initiating = SecureOutbound(left);
        Assert.Equal(2 + 32, (await ReadFrameAsync(raw.Input)).Length);
        await raw.Output.WriteAsync(new byte[] { 0x00, 0xC8 }.Concat(RandomNumberGenerator.GetBytes(50)).ToArray()).AsTask().WaitAsync(Timeout);
        await raw.Output.CompleteAsync().AsTask().WaitAsync(Timeout);
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => initiating.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Contains("message 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Handshake_WhenRemoteClosesBeforeMessage3_FailsFastWithNoiseHandshakeException()
    {
        var (raw, right) = TestPipes.CreatePair();
        var responding = SecureInbound(right);
        await raw.Output.WriteAsync(new byte[] { 0x00, 0x20 }.Concat(RandomNumberGenerator.GetBytes(32)).ToArray()).AsTask().WaitAsync(Timeout);
        _ = await ReadFrameAsync(raw.Input);
        await raw.Output.CompleteAsync().AsTask().WaitAsync(Timeout);
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => responding.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Contains("message 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Handshake_WhenResponderSendsGarbageAsMessage2_IsRefusedAndTheConnectionDropped()
    {
        var (left, raw) = TestPipes.CreatePair();
        var initiating = SecureOutbound(left);
        _ = await ReadFrameAsync(raw.Input);
        await raw.Output.WriteAsync(new byte[] { 0x00, 0xC8 }.Concat(RandomNumberGenerator.GetBytes(200)).ToArray()).AsTask().WaitAsync(Timeout);
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => initiating.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Contains("authentication", error.Message, StringComparison.Ordinal);
        // Dropped: the initiator's output is completed (with the error), so the raw side's input ends.
        await Assert.ThrowsAsync<NoiseHandshakeException>(async () =>
        {
            ReadResult result = await raw.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            Assert.True(result.IsCompleted);
            throw new NoiseHandshakeException("ended cleanly");
        });
    }

    [Fact]
    public async Task Handshake_WithTooShortMessageLength_FailsWithoutWaitingForTheBody()
    {
        var (left, raw) = TestPipes.CreatePair();
        var initiating = SecureOutbound(left);
        _ = await ReadFrameAsync(raw.Input);
        await raw.Output.WriteAsync(new byte[] { 0x00, 0x10 }).AsTask().WaitAsync(Timeout); // 16 bytes announced, 96 required; body never sent
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => initiating.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Contains("shorter", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Handshake_WhenRemoteStalls_TimesOutWithNoiseHandshakeException()
    {
        var (raw, right) = TestPipes.CreatePair();
        var responding = SecureInbound(right, new NoiseOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(300) });
        // An HTTP request: "GE" announces an 18245-byte message that never completes.
        await raw.Output.WriteAsync("GET / HTTP/1.1\r\n\r\n"u8.ToArray()).AsTask().WaitAsync(Timeout);
        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => responding.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Contains("did not complete within", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Handshake_CancelledByTheCaller_ThrowsOperationCanceled()
    {
        var (left, _) = TestPipes.CreatePair();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => SecureOutbound(left, cancellationToken: cts.Token).WaitAsync(Timeout));
    }

    [Fact]
    public async Task Handshake_ExchangesAnnouncedStreamMuxers()
    {
        var initiatorOptions = new NoiseOptions();
        var responderOptions = new NoiseOptions();
        responderOptions.StreamMuxers.Insert(0, "/mplex/6.7.0");
        var (left, right) = TestPipes.CreatePair();
        var (initiator, responder) = await NoiseTestHarness.HandshakeAsync(left, right, _initiatorKey, _responderKey, initiatorOptions, responderOptions);
        await using (initiator)
        await using (responder)
        {
            Assert.Equal(["/mplex/6.7.0", "/yamux/1.0.0"], initiator.RemoteMuxers);
            Assert.Equal(["/yamux/1.0.0"], responder.RemoteMuxers);
        }
    }

    [Fact]
    public async Task Handshake_LeavesDataPipelinedBehindMessage3ForTheChannel()
    {
        // The relay holds message 3 back and delivers it in one write with the first transport frame behind it.
        var (initiatorTransport, responderTransport, relays) = FrameRelay.Connect(flushAfterInitiatorFrame: index => index != 1);
        var responding = SecureInbound(responderTransport);
        await using NoiseSecureChannel initiator = await SecureOutbound(initiatorTransport).WaitAsync(Timeout);
        await initiator.Output.WriteAsync("early data"u8.ToArray()).AsTask().WaitAsync(Timeout);
        await using NoiseSecureChannel responder = await responding.WaitAsync(Timeout);
        ReadResult result = await responder.Input.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal("early data"u8.ToArray(), result.Buffer.ToArray());
        responder.Input.AdvanceTo(result.Buffer.End);
        await initiator.DisposeAsync().AsTask().WaitAsync(Timeout);
        await responder.DisposeAsync().AsTask().WaitAsync(Timeout);
        await relays.WaitAsync(Timeout);
    }
}
