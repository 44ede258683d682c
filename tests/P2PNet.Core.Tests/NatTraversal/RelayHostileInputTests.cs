using System.Buffers;
using FsCheck.Xunit;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Protocols.Relay;
using P2PNet.Protocols.Relay.Internal;
using P2PNet.Protocols.Relay.Protos;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>Hop requests a hostile peer could send: each is answered with a status (or the stream is dropped) and
/// the relay keeps serving everyone else.</summary>
public sealed class RelayHostileInputTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = RelayFixture.Timeout;

    public static TheoryData<string, byte[], RelayStatus> Requests => new()
    {
        // A length prefix of 1 MiB: refused before a byte of the body is read.
        { "oversized", [0x80, 0x80, 0x40, 1, 2, 3], RelayStatus.MalformedMessage },
        { "not protobuf", [3, 0xFF, 0xFF, 0xFF], RelayStatus.MalformedMessage },
        { "connect without peer", [2, 0x08, 0x01], RelayStatus.MalformedMessage },
        { "connect with a bad peer id", [6, 0x08, 0x01, 0x12, 0x02, 0x0A, 0x00], RelayStatus.MalformedMessage },
        { "status as a request", [2, 0x08, 0x02], RelayStatus.UnexpectedMessage },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task HostileHopRequest_IsAnsweredWithAStatus_AndOtherCircuitsKeepWorking(string what, byte[] request, RelayStatus expected)
    {
        output.WriteLine(what);
        await using var world = await RelayFixture.StartAsync(output);
        var (listener, _, reservation) = await world.NewReservedHostAsync();
        var honest = await world.NewHostAsync();
        var circuit = await honest.DialAsync(reservation.CircuitAddresses[0]).AsTask().WaitAsync(Timeout);
        var hostile = await world.NewHostAsync();

        var connection = await hostile.DialAsync(world.RelayAddress).AsTask().WaitAsync(Timeout);
        await using (var stream = await connection.OpenStreamAsync(RelayProtocol.HopId).AsTask().WaitAsync(Timeout))
        {
            await stream.WriteAsync(request, completeWrites: false).AsTask().WaitAsync(Timeout);
            byte[]? answer = await LengthPrefixed.ReadAsync(stream.Input, 4096).AsTask().WaitAsync(Timeout);
            Assert.NotNull(answer);
            var message = PbHopMessage.Parser.ParseFrom(answer);
            Assert.Equal(PbHopMessage.Types.Type.Status, message.Type);
            Assert.Equal(expected, (RelayStatus)message.Status);
        }

        byte[] payload = System.Security.Cryptography.RandomNumberGenerator.GetBytes(2000);
        Assert.Equal(payload, await EchoClient.EchoAsync(circuit, payload).WaitAsync(Timeout));
        Assert.False(connection.Closed.IsCompleted, "a bad request closes its stream, not the connection");
    }

    [Fact]
    public async Task HostileStopRequest_IsAnsweredWithMalformed_AndNoConnectionIsAdded()
    {
        await using var world = await RelayFixture.StartAsync(output);
        var (listener, _, _) = await world.NewReservedHostAsync();
        var fakeRelay = await world.NewHostAsync();
        var connection = await fakeRelay.DialAsync(listener.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await using var stream = await connection.OpenStreamAsync(RelayProtocol.StopId).AsTask().WaitAsync(Timeout);
        await stream.WriteAsync(new byte[] { 2, 0x08, 0x00 }, completeWrites: false).AsTask().WaitAsync(Timeout); // CONNECT, no peer
        byte[]? answer = await LengthPrefixed.ReadAsync(stream.Input, 4096).AsTask().WaitAsync(Timeout);
        Assert.NotNull(answer);
        Assert.Equal(RelayStatus.MalformedMessage, (RelayStatus)PbStopMessage.Parser.ParseFrom(answer).Status);
        Assert.All(listener.Connections, c => Assert.False(c.IsLimited));
    }

    [Property(MaxTest = 300)]
    public bool ArbitraryBytes_ParseAsAHopMessage_OrFailWithWireFormatExceptionOnly(byte[] body)
    {
        var buffer = new ArrayBufferWriter<byte>();
        LengthPrefixed.Write(buffer, body);
        var pipe = new System.IO.Pipelines.Pipe();
        pipe.Writer.Write(buffer.WrittenSpan);
        pipe.Writer.Complete();
        try
        {
            byte[]? bytes = LengthPrefixed.ReadAsync(pipe.Reader, 4096).AsTask().GetAwaiter().GetResult();
            _ = RelayMessages.ParseHop(bytes!);
            return true;
        }
        catch (WireFormatException)
        {
            return true;
        }
    }

    [Property(MaxTest = 100)]
    public bool ReservationAddresses_RoundTripThroughTheCodec(byte port)
    {
        var address = Multiaddr.Parse($"/ip4/10.0.0.1/tcp/{port + 1}");
        var message = RelayMessages.HopStatus(PbStatus.Ok);
        message.Reservation = new PbReservation { Expire = 1 };
        message.Reservation.Addrs.Add(Google.Protobuf.ByteString.CopyFrom(address.ToBytes()));
        var parsed = RelayMessages.ParseHop(Google.Protobuf.MessageExtensions.ToByteArray(message));
        return RelayMessages.Addresses(parsed.Reservation.Addrs).Single().Equals(address);
    }
}
