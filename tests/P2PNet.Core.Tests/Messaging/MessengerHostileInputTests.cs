using System.Buffers;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using P2PNet.Host;
using P2PNet.Messaging;
using P2PNet.Messaging.Protos;
using P2PNet.Multiformats;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Messaging;

/// <summary>
/// Raw bytes on the messenger protocol from a hostile peer: oversized, garbage, unknown types and payloads that do not
/// parse. Each costs the sender its stream (or is skipped), never the receiver's process, connection or other senders.
/// </summary>
public sealed class MessengerHostileInputTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const int MaxMessageSize = 4096;

    private static byte[] Framed(ReadOnlySpan<byte> body)
    {
        var writer = new ArrayBufferWriter<byte>();
        Varint.Write(writer, (ulong)body.Length);
        writer.Write(body);
        return writer.WrittenSpan.ToArray();
    }

    private static byte[] Envelope(string type, ByteString payload) => Framed(new PbEnvelope { Type = type, Payload = payload }.ToByteArray());

    private static byte[] Text(string value) => Envelope(StringValue.Descriptor.FullName, new StringValue { Value = value }.ToByteString());

    /// <summary>Writes <paramref name="bytes"/> on a fresh messenger stream, half-closes, and returns how the receiver ended it.</summary>
    private static async Task<bool> SendRawAndSeeIfResetAsync(P2PConnection connection, byte[] bytes)
    {
        var stream = await connection.OpenStreamAsync(Messenger.ProtocolId).AsTask().WaitAsync(Timeout);
        await using (stream)
        {
            try
            {
                await stream.WriteAsync(bytes).AsTask().WaitAsync(Timeout);
                await stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout);
                var buffer = new byte[16];
                while (await stream.ReadAsync(buffer).AsTask().WaitAsync(Timeout) > 0)
                {
                }
                return false;
            }
            catch (P2PNet.Muxing.StreamResetException)
            {
                return true;
            }
        }
    }

    [Theory]
    [InlineData("oversized")]
    [InlineData("garbage-envelope")]
    [InlineData("payload-of-the-wrong-type")]
    [InlineData("length-over-64-bits")]
    public async Task Receiver_GivenMalformedBytes_ResetsThatStreamAndStillReceivesFromOthers(string kind)
    {
        await using var hosts = await TestHostGroup.StartAsync(2, null, XunitLoggerProvider.CreateFactory(output)).WaitAsync(Timeout);
        await using var receiver = new Messenger(hosts[1], maxMessageSize: MaxMessageSize);
        await using var sender = new Messenger(hosts[0], maxMessageSize: MaxMessageSize);
        var received = new List<string>();
        var got = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = receiver.Subscribe<StringValue>((from, message, ct) =>
        {
            lock (received)
            {
                received.Add(message.Value);
            }
            if (message.Value == "honest")
            {
                got.TrySetResult();
            }
            return ValueTask.CompletedTask;
        });
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        byte[] bytes = kind switch
        {
            "oversized" => Text(new string('x', MaxMessageSize)),
            "garbage-envelope" => Framed([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
            "payload-of-the-wrong-type" => Envelope(StringValue.Descriptor.FullName, ByteString.CopyFrom(0x0a, 0x7f, 0x01)),
            _ => [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        };

        Assert.True(await SendRawAndSeeIfResetAsync(connection, bytes), "the receiver did not reset the offending stream");

        await sender.SendAsync(hosts[1].PeerId, new StringValue { Value = "honest" }).AsTask().WaitAsync(Timeout);
        await got.Task.WaitAsync(Timeout);
        lock (received)
        {
            Assert.Equal(["honest"], received);
        }
    }

    [Fact]
    public async Task Receiver_GivenAnUnknownType_SkipsItAndKeepsReadingTheSameStream()
    {
        await using var hosts = await TestHostGroup.StartAsync(2, null, XunitLoggerProvider.CreateFactory(output)).WaitAsync(Timeout);
        await using var receiver = new Messenger(hosts[1], maxMessageSize: MaxMessageSize);
        var got = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = receiver.Subscribe<StringValue>((from, message, ct) =>
        {
            got.TrySetResult(message.Value);
            return ValueTask.CompletedTask;
        });
        var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        byte[] bytes = [.. Envelope("nobody.Knows", ByteString.CopyFrom(1, 2, 3)), .. Text("after the unknown one")];
        Assert.False(await SendRawAndSeeIfResetAsync(connection, bytes), "an unknown type reset the stream");

        Assert.Equal("after the unknown one", await got.Task.WaitAsync(Timeout));
    }
}
