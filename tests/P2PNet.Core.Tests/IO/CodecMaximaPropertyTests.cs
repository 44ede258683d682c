using System.Buffers;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Muxing.Yamux;

namespace P2PNet.Core.Tests.IO;

/// <summary>
/// Codec round trips at the protocol maxima. FsCheck's default sizes stay near 100 bytes, which never reaches a
/// multi-byte varint boundary, a full 4 MiB message or a 32-bit Yamux field; these generators aim there on purpose.
/// </summary>
public sealed class CodecMaximaPropertyTests
{
    /// <summary>Values around every power of two up to 2^64 − 1, so around every 7-bit varint boundary and the 9-byte limit.</summary>
    private static Gen<ulong> VarintBoundaries =>
        from bits in Gen.Choose(0, 63)
        from delta in Gen.Choose(-2, 2)
        select unchecked((ulong)((1UL << bits) + (ulong)(long)delta));

    /// <summary>Message lengths anywhere up to the messenger's 4 MiB default, weighted towards the edges.</summary>
    private static Gen<int> LargeLengths => Gen.OneOf(
        Gen.Choose(0, 4 * 1024 * 1024),
        Gen.Elements(127, 128, 16383, 16384, 65535, 65536, 4 * 1024 * 1024 - 1, 4 * 1024 * 1024));

    private static Gen<uint> Full32Bits =>
        Gen.OneOf(Gen.Elements(0u, 1u, 0x7FFF_FFFFu, 0x8000_0000u, uint.MaxValue), Gen.Choose(int.MinValue, int.MaxValue).Select(i => unchecked((uint)i)));

    [Property(MaxTest = 500)]
    public Property Varint_AtEveryBoundaryUpTo64Bits_RoundTripsMinimallyOrIsRefusedPastNineBytes() =>
        Prop.ForAll(VarintBoundaries.ToArbitrary(), value =>
        {
            if (value > Varint.MaxValue)
            {
                // The spec stops at nine bytes (2^63 − 1): larger values are refused, never silently truncated.
                try
                {
                    Varint.Encode(value);
                    return false;
                }
                catch (ArgumentOutOfRangeException)
                {
                    return true;
                }
            }
            byte[] encoded = Varint.Encode(value);
            ulong decoded = Varint.Read(encoded, out int consumed);
            return decoded == value && consumed == encoded.Length && encoded.Length == Varint.GetByteCount(value)
                && encoded.Length == Math.Max(1, (64 - System.Numerics.BitOperations.LeadingZeroCount(value) + 6) / 7);
        });

    [Property(MaxTest = 40)]
    public Property LengthPrefixed_MessagesUpTo4MiB_RoundTripAndRespectTheLimit() =>
        Prop.ForAll(LargeLengths.ToArbitrary(), length =>
        {
            var message = new byte[length];
            new Random(length).NextBytes(message);
            var writer = new ArrayBufferWriter<byte>();
            LengthPrefixed.Write(writer, message);
            var buffer = new ReadOnlySequence<byte>(writer.WrittenMemory);
            bool parsed = LengthPrefixed.TryParse(ref buffer, 4 * 1024 * 1024, out var read);
            bool exact = parsed && buffer.IsEmpty && read.ToArray().AsSpan().SequenceEqual(message);
            // One byte under the message's own size must refuse it with the documented exception.
            bool refused = length == 0 || Throws(() =>
            {
                var again = new ReadOnlySequence<byte>(writer.WrittenMemory);
                LengthPrefixed.TryParse(ref again, length - 1, out _);
            });
            return exact && refused;
        });

    [Property(MaxTest = 500)]
    public Property YamuxHeader_WithFull32BitStreamIdsAndLengths_RoundTrips() =>
        Prop.ForAll((
            from type in Gen.Choose(0, 3)
            from flags in Gen.Choose(0, 15)
            from streamId in Full32Bits
            from length in Full32Bits
            select new YamuxFrameHeader((YamuxFrameType)type, (YamuxFrameFlags)flags, streamId, length)).ToArbitrary(),
            header =>
            {
                var bytes = new byte[12];
                YamuxFrameCodec.WriteHeader(bytes, header);
                return YamuxFrameCodec.ReadHeader(bytes) == header;
            });

    private static bool Throws(Action parse)
    {
        try
        {
            parse();
            return false;
        }
        catch (WireFormatException)
        {
            return true;
        }
    }
}
