using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Core.Tests.IO;
using P2PNet.Multiformats;

namespace P2PNet.Core.Tests.Multiformats;

public sealed class MultiaddrPropertyTests
{
    private static readonly byte[][] ValidBinary =
    [
        .. MultiaddrVectors.Canonical.Select(row => Convert.FromHexString((string)row[1])),
        .. MultiaddrVectors.TorAndI2p.Select(row => Convert.FromHexString((string)row[1])),
    ];

    [Property(MaxTest = 2000)]
    public Property TextToBinaryToText_AnyValidMultiaddr_GivesTheSameText()
    {
        return Prop.ForAll(MultiaddrGenerators.CanonicalText.ToArbitrary(), text =>
        {
            var parsed = Multiaddr.Parse(text);
            Assert.Equal(text, parsed.ToString());

            byte[] binary = parsed.ToBytes();
            var read = Multiaddr.FromBytes(binary);
            Assert.Equal(text, read.ToString());
            Assert.Equal(parsed, read);
            Assert.Equal(parsed.GetHashCode(), read.GetHashCode());
            Assert.Equal(binary, read.ToBytes());
        });
    }

    [Property(MaxTest = 500)]
    public Property Components_AnyValidMultiaddr_RebuildTheSameAddress()
    {
        return Prop.ForAll(MultiaddrGenerators.CanonicalText.ToArbitrary(), text =>
        {
            var parsed = Multiaddr.Parse(text);
            Assert.Equal(text, string.Concat(parsed.Components.Select(c => c.ToString())));
            var rebuilt = Multiaddr.Create(parsed.Components.Select(c => MultiaddrComponent.Create(c.Protocol, c.ValueText)));
            Assert.Equal(parsed, rebuilt);
        });
    }

    [Property(MaxTest = 500)]
    public Property EncapsulateThenDecapsulate_AnyTwoAddresses_GivesTheFirstBack()
    {
        var gen =
            from a in MultiaddrGenerators.CanonicalText
            from b in MultiaddrGenerators.CanonicalText
            select (a, b);
        return Prop.ForAll(gen.ToArbitrary(), pair =>
        {
            var a = Multiaddr.Parse(pair.a);
            var b = Multiaddr.Parse(pair.b);
            if (a.Components[^1].Protocol == MultiaddrProtocol.Unix)
            {
                return; // nothing can follow a path
            }
            var joined = a.Encapsulate(b);
            Assert.Equal(pair.a + pair.b, joined.ToString());
            Assert.Equal(a, joined.Decapsulate(b));
        });
    }

    [Property(MaxTest = 10000)]
    public Property FromBytes_ArbitraryOrDamagedBytes_SucceedsOrThrowsWireFormatException()
    {
        return Prop.ForAll(MalformedInputs.BytesOrMutationsOf(ValidBinary), bytes =>
        {
            if (WireFormatAssert.SucceedsOrThrowsWireFormat(() => Multiaddr.FromBytes(bytes)))
            {
                // Whatever reads as binary has a text form that reads back to the same address.
                var ma = Multiaddr.FromBytes(bytes);
                Assert.Equal(bytes, ma.ToBytes());
                if (!ma.IsEmpty)
                {
                    Assert.Equal(ma, Multiaddr.Parse(ma.ToString()));
                }
                _ = ma.GetPeerId();
                _ = ma.TryGetTcpEndPoint(out _);
            }
        });
    }

    [Property(MaxTest = 10000)]
    public Property Parse_ArbitraryOrDamagedText_SucceedsOrThrowsWireFormatException()
    {
        string[] seeds = [.. MultiaddrVectors.Canonical.Select(row => (string)row[0])];
        char[] alphabet = "/abcdefghijklmnopqrstuvwxyz0123456789.:%-_~ ABZé\u0000\u007f\ud800\U0001F600".ToCharArray();
        var names = Gen.Elements(MultiaddrVectors.Canonical.SelectMany(row => ((string)row[0]).Split('/')).Distinct().ToArray());

        var damaged =
            from seed in Gen.Elements(seeds)
            from index in Gen.Choose(0, seed.Length - 1)
            from kind in Gen.Choose(0, 2)
            from c in Gen.Elements(alphabet)
            select kind switch
            {
                0 => seed[..index],
                1 => seed[..index] + c + seed[(index + 1)..],
                _ => seed[..index] + c + seed[index..],
            };
        var shuffled =
            from parts in Gen.NonEmptyListOf(Gen.OneOf(names, Gen.ArrayOf(Gen.Elements(alphabet)).Select(c => new string(c))))
            select "/" + string.Join('/', parts);
        var anyText = ArbMap.Default.GeneratorFor<string>().Select(s => s ?? string.Empty);

        return Prop.ForAll(Gen.OneOf(damaged, shuffled, anyText).ToArbitrary(), text =>
        {
            if (WireFormatAssert.SucceedsOrThrowsWireFormat(() => Multiaddr.Parse(text)))
            {
                // Accepted text may be normalized, but its normal form is stable.
                var ma = Multiaddr.Parse(text);
                Assert.Equal(ma.ToString(), Multiaddr.Parse(ma.ToString()).ToString());
                Assert.Equal(ma, Multiaddr.FromBytes(ma.ToBytes()));
            }
        });
    }
}
