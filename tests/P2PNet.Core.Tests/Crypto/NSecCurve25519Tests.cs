using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Crypto.Internal;

namespace P2PNet.Core.Tests.Crypto;

/// <summary>NSec (libsodium) against the managed BouncyCastle code on random inputs: same keys, same shared secrets,
/// same refusals for arbitrary remote points, same signatures, and signatures that verify across the two.</summary>
public class NSecCurve25519Tests
{
    private static Curve25519Backend NSec => Curve25519Backend.NSec ?? throw new InvalidOperationException("NSec (libsodium) did not load on this machine");

    private static Curve25519Backend Managed => Curve25519Backend.Managed;

    [Property(MaxTest = 200)]
    public bool X25519_OnRandomKeysAndArbitraryRemotePoints_AgreesWithTheManagedCode(Guid a1, Guid a2, Guid b1, Guid b2)
    {
        byte[] a = [.. a1.ToByteArray(), .. a2.ToByteArray()];
        byte[] b = [.. b1.ToByteArray(), .. b2.ToByteArray()];
        using var ours = NSec.CreateX25519(a);
        using var reference = Managed.CreateX25519(a);
        using var peer = Managed.CreateX25519(b);
        var s1 = new byte[32];
        var s2 = new byte[32];
        var t1 = new byte[32];
        var t2 = new byte[32];
        // b as a remote point too: arbitrary bytes, twist points included.
        return ours.PublicKey.SequenceEqual(reference.PublicKey)
            && ours.TryAgree(peer.PublicKey, s1) && reference.TryAgree(peer.PublicKey, s2) && s1.AsSpan().SequenceEqual(s2)
            && ours.TryAgree(b, t1) == reference.TryAgree(b, t2) && t1.AsSpan().SequenceEqual(t2);
    }

    [Fact]
    public void X25519_WithALowOrderRemotePoint_IsRefusedAndTheOutputZeroed()
    {
        using var key = NSec.CreateX25519(new byte[32] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 });
        var shared = Enumerable.Repeat((byte)0xAA, 32).ToArray();
        // u = 0 and u = 1 are of low order: the result is all zeros (RFC 7748 §6.1).
        Assert.False(key.TryAgree(new byte[32], shared));
        Assert.All(shared, b => Assert.Equal(0, b));
        byte[] one = new byte[32];
        one[0] = 1;
        Assert.False(key.TryAgree(one, shared));
    }

    [Property(MaxTest = 200)]
    public bool Ed25519_SignaturesMatchTheManagedCode_AndVerifyAcrossBackends(Guid s1, Guid s2, byte[] message)
    {
        byte[] seed = [.. s1.ToByteArray(), .. s2.ToByteArray()];
        using var ours = NSec.CreateEd25519(seed);
        using var reference = Managed.CreateEd25519(seed);
        var sig1 = new byte[64];
        var sig2 = new byte[64];
        ours.Sign(message, sig1);
        reference.Sign(message, sig2);
        byte[] damaged = [.. sig1];
        damaged[message.Length % 64] ^= 1;
        return ours.PublicKey.SequenceEqual(reference.PublicKey) && sig1.AsSpan().SequenceEqual(sig2)
            && NSec.Ed25519Verify(reference.PublicKey, message, sig2) && Managed.Ed25519Verify(ours.PublicKey, message, sig1)
            && !NSec.Ed25519Verify(ours.PublicKey, message, damaged);
    }

    [Fact]
    public void Ed25519Verify_WithMalformedLengths_ReturnsFalse()
    {
        Assert.False(NSec.Ed25519Verify(new byte[31], [], new byte[64]));
        Assert.False(NSec.Ed25519Verify(new byte[32], [], new byte[63]));
        Assert.Throws<ArgumentException>(() => NSec.CreateEd25519(new byte[33]));
        Assert.Throws<ArgumentException>(() => NSec.CreateX25519(new byte[31]));
    }
}
