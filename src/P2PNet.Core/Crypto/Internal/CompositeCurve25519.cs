namespace P2PNet.Crypto.Internal;

/// <summary>X25519 on one backend and Ed25519 on another, each where it measures fastest.</summary>
internal sealed class CompositeCurve25519(Curve25519Backend x25519, Curve25519Backend ed25519) : Curve25519Backend
{
    /// <summary>Where X25519 runs.</summary>
    public Curve25519Backend X25519 { get; } = x25519;

    /// <summary>Where Ed25519 runs.</summary>
    public Curve25519Backend Ed25519 { get; } = ed25519;

    public override string Name => $"x25519:{X25519.Name},ed25519:{Ed25519.Name}";

    public override X25519Secret CreateX25519(ReadOnlySpan<byte> privateKey) => X25519.CreateX25519(privateKey);

    public override Ed25519Secret CreateEd25519(ReadOnlySpan<byte> seed) => Ed25519.CreateEd25519(seed);

    public override bool Ed25519Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) =>
        Ed25519.Ed25519Verify(publicKey, message, signature);
}
