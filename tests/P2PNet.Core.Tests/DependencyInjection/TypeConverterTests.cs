using System.ComponentModel;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Crypto;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Core.Tests.DependencyInjection;

/// <summary>The <see cref="TypeConverter"/>s the configuration binder uses for <see cref="Multiaddr"/> and <see cref="PeerId"/>.</summary>
public sealed class TypeConverterTests
{
    [Property]
    public bool MultiaddrConverter_RoundTripsTheTextForm(byte a, byte b, byte c, byte d, ushort port)
    {
        var converter = TypeDescriptor.GetConverter(typeof(Multiaddr));
        string text = $"/ip4/{a}.{b}.{c}.{d}/tcp/{port}";
        var parsed = (Multiaddr)converter.ConvertFromInvariantString(text)!;
        return parsed == Multiaddr.Parse(text) && converter.ConvertToInvariantString(parsed) == text;
    }

    [Fact]
    public void PeerIdConverter_ReadsBase58AndCidForms()
    {
        using var key = PrivateKey.GenerateEd25519();
        var peer = key.PublicKey.ToPeerId();
        var converter = TypeDescriptor.GetConverter(typeof(PeerId));
        Assert.True(converter.CanConvertFrom(typeof(string)));
        Assert.Equal(peer, converter.ConvertFromInvariantString(peer.ToString()));
        Assert.Equal(peer, converter.ConvertFromInvariantString(peer.ToCidString()));
        Assert.Equal(peer.ToString(), converter.ConvertToInvariantString(peer));
    }

    [Fact]
    public void Converters_OnMalformedText_ThrowTheFormatException()
    {
        Assert.Throws<WireFormatException>(() => TypeDescriptor.GetConverter(typeof(Multiaddr)).ConvertFromInvariantString("/ip4/300.1.1.1/tcp/1"));
        Assert.Throws<WireFormatException>(() => TypeDescriptor.GetConverter(typeof(PeerId)).ConvertFromInvariantString("not-a-peer-id"));
    }
}
