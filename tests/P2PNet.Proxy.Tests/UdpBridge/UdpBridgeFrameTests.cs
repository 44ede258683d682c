using System.Buffers;
using System.Net;
using System.Net.Sockets;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Proxy.UdpBridge.Internal;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>The datagram frame codec: examples, then properties over generated input.</summary>
public sealed class UdpBridgeFrameTests
{
    [Fact]
    public void Read_IPv4Frame_GivesAddressPortAndPayload()
    {
        byte[] message = [4, 192, 0, 2, 1, 0x1f, 0x90, 0xca, 0xfe];

        UdpBridgeFrame frame = UdpBridgeFrame.Read(message);

        Assert.Equal(AddressFamily.InterNetwork, frame.Family);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 8080), frame.ToEndPoint());
        Assert.Equal(new byte[] { 0xca, 0xfe }, frame.Payload.ToArray());
        Assert.Equal(7, frame.HeaderLength);
    }

    [Fact]
    public void Read_IPv6Frame_GivesAddressPortAndPayload()
    {
        IPAddress address = IPAddress.Parse("2001:db8::1");
        byte[] message = [6, .. address.GetAddressBytes(), 0xff, 0xff, 1, 2, 3];

        UdpBridgeFrame frame = UdpBridgeFrame.Read(message);

        Assert.Equal(AddressFamily.InterNetworkV6, frame.Family);
        Assert.Equal(new IPEndPoint(address, 65535), frame.ToEndPoint());
        Assert.Equal(new byte[] { 1, 2, 3 }, frame.Payload.ToArray());
        Assert.Equal(19, frame.HeaderLength);
    }

    [Fact]
    public void Read_HeaderOnly_GivesEmptyPayload()
    {
        UdpBridgeFrame frame = UdpBridgeFrame.Read([4, 1, 2, 3, 4, 0, 53]);

        Assert.True(frame.Payload.IsEmpty);
        Assert.Equal(53, frame.Port);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(16)]
    [InlineData(255)]
    public void Read_UnknownFamily_ThrowsWireFormatException(byte family)
    {
        byte[] message = [family, .. new byte[30]];

        WireFormatException e = Assert.Throws<WireFormatException>(() => UdpBridgeFrame.Read(message));
        Assert.Contains($"family byte {family}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_EveryShortHeader_ThrowsWireFormatException()
    {
        for (int length = 0; length < UdpBridgeFrame.IPv4HeaderLength; length++)
        {
            byte[] v4 = [4, .. new byte[length]];
            Assert.Throws<WireFormatException>(() => UdpBridgeFrame.Read(v4.AsSpan(0, length)));
        }

        for (int length = 0; length < UdpBridgeFrame.IPv6HeaderLength; length++)
        {
            byte[] v6 = [6, .. new byte[length]];
            Assert.Throws<WireFormatException>(() => UdpBridgeFrame.Read(v6.AsSpan(0, length)));
        }
    }

    [Fact]
    public void Write_IPv4MappedEndPoint_WritesAnIPv4Frame()
    {
        var writer = new ArrayBufferWriter<byte>();

        UdpBridgeFrame.Write(writer, new IPEndPoint(IPAddress.Parse("::ffff:198.51.100.9"), 30303), [7]);

        Assert.Equal(new byte[] { 4, 198, 51, 100, 9, 0x76, 0x5f, 7 }, writer.WrittenSpan.ToArray());
    }

    [Property(MaxTest = 1000)]
    public Property Property_WriteThenRead_RoundTrips()
    {
        Gen<IPAddress> addresses = Gen.OneOf(
            Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 4).Select(b => new IPAddress(b)),
            Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 16).Select(b => new IPAddress(b)));
        Gen<(IPEndPoint EndPoint, byte[] Payload)> frames =
            from address in addresses
            from port in Gen.Choose(0, 65535)
            from payload in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>())
            select (new IPEndPoint(address, port), payload);

        return Prop.ForAll(frames.ToArbitrary(), input =>
        {
            var writer = new ArrayBufferWriter<byte>();
            UdpBridgeFrame.Write(writer, input.EndPoint, input.Payload);
            UdpBridgeFrame frame = UdpBridgeFrame.Read(writer.WrittenSpan);

            IPAddress expected = input.EndPoint.Address.IsIPv4MappedToIPv6 ? input.EndPoint.Address.MapToIPv4() : input.EndPoint.Address;
            return frame.ToEndPoint().Equals(new IPEndPoint(expected, input.EndPoint.Port))
                && frame.Payload.SequenceEqual(input.Payload)
                && writer.WrittenCount == frame.HeaderLength + input.Payload.Length;
        });
    }

    [Property(MaxTest = 1000)]
    public Property Property_ArbitraryBytes_ParseOrThrowOnlyWireFormatException()
    {
        // Bias the first byte towards the valid families so both paths are exercised.
        Gen<byte[]> messages =
            from family in Gen.Frequency((3, Gen.Constant((byte)4)), (3, Gen.Constant((byte)6)), (1, ArbMap.Default.GeneratorFor<byte>()))
            from rest in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>())
            from empty in Gen.Frequency((20, Gen.Constant(false)), (1, Gen.Constant(true)))
            select empty ? [] : (byte[])[family, .. rest];

        return Prop.ForAll(messages.ToArbitrary(), message =>
        {
            try
            {
                UdpBridgeFrame frame = UdpBridgeFrame.Read(message);

                // Whatever parses re-encodes to exactly the same bytes.
                byte[] header = new byte[frame.HeaderLength];
                UdpBridgeFrame.WriteHeader(header, frame.Address, frame.Port);
                return message.AsSpan().SequenceEqual([.. header, .. frame.Payload]);
            }
            catch (WireFormatException)
            {
                bool badFamily = message.Length == 0 || message[0] is not (4 or 6);
                bool tooShort = message.Length > 0 && message.Length < (message[0] == 4 ? 7 : 19);
                return badFamily || tooShort;
            }
        });
    }
}
