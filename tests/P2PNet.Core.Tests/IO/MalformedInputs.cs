using FsCheck;
using FsCheck.Fluent;

namespace P2PNet.Core.Tests.IO;

/// <summary>Generators of hostile input: arbitrary bytes, and valid encodings with small random damage,
/// which reach deeper into a parser than noise does.</summary>
internal static class MalformedInputs
{
    private static Gen<byte> AnyByte => ArbMap.Default.GeneratorFor<byte>();

    /// <summary>Arbitrary byte arrays, never null.</summary>
    public static Gen<byte[]> Bytes => ArbMap.Default.GeneratorFor<byte[]>().Select(b => b ?? []);

    /// <summary>One of <paramref name="seeds"/> with one to three random mutations; the seeds themselves sometimes.</summary>
    public static Gen<byte[]> MutationsOf(params byte[][] seeds) =>
        from seed in Gen.Elements(seeds)
        from rounds in Gen.Choose(0, 3)
        from mutated in Repeat(Gen.Constant(seed), rounds)
        select mutated;

    /// <summary>Arbitrary bytes or mutated seeds, half and half.</summary>
    public static Arbitrary<byte[]> BytesOrMutationsOf(params byte[][] seeds) =>
        Gen.OneOf(Bytes, MutationsOf(seeds)).ToArbitrary();

    private static Gen<byte[]> Repeat(Gen<byte[]> gen, int rounds) =>
        rounds == 0 ? gen : Repeat(gen.SelectMany(Mutate), rounds - 1);

    private static Gen<byte[]> Mutate(byte[] data)
    {
        if (data.Length == 0)
        {
            return Gen.ArrayOf(AnyByte, 1);
        }
        var index = Gen.Choose(0, data.Length - 1);
        return Gen.OneOf(
            // flip one bit
            from i in index
            from bit in Gen.Choose(0, 7)
            select With(data, i, (byte)(data[i] ^ (1 << bit))),
            // replace one byte, often with a boundary value
            from i in index
            from b in Gen.OneOf(AnyByte, Gen.Elements<byte>(0x00, 0x01, 0x7f, 0x80, 0xff))
            select With(data, i, b),
            // truncate
            from n in Gen.Choose(0, data.Length - 1)
            select data[..n],
            // insert a byte
            from i in Gen.Choose(0, data.Length)
            from b in AnyByte
            select (byte[])[.. data[..i], b, .. data[i..]],
            // delete a byte
            from i in index
            select (byte[])[.. data[..i], .. data[(i + 1)..]],
            // append garbage
            from tail in Gen.ArrayOf(AnyByte, 4)
            select (byte[])[.. data, .. tail]);
    }

    private static byte[] With(byte[] data, int index, byte value)
    {
        var copy = (byte[])data.Clone();
        copy[index] = value;
        return copy;
    }
}
