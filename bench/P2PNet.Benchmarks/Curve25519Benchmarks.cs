using BenchmarkDotNet.Attributes;
using P2PNet.Crypto.Internal;

namespace P2PNet.Benchmarks;

/// <summary>The per-handshake asymmetric operations on each backend: X25519 keygen and DH, Ed25519 sign and verify.</summary>
[MemoryDiagnoser]
public class Curve25519Benchmarks
{
    private static readonly byte[] Message = "noise-libp2p-static-key:0123456789abcdef0123456789abcdef"u8.ToArray();
    private Curve25519Backend _backend = Curve25519Backend.Managed;
    private X25519Secret _x = null!;
    private Ed25519Secret _ed = null!;
    private byte[] _peer = [];
    private byte[] _signature = [];
    private readonly byte[] _shared = new byte[32];

    [Params("managed", "openssl", "nsec")]
    public string Backend { get; set; } = "managed";

    [GlobalSetup]
    public void Setup()
    {
        _backend = Backend switch
        {
            "openssl" => Curve25519Backend.OpenSsl ?? throw new InvalidOperationException("libcrypto 3 did not load"),
            "nsec" => Curve25519Backend.NSec ?? throw new InvalidOperationException("NSec (libsodium) did not load"),
            _ => Curve25519Backend.Managed,
        };
        _x = _backend.CreateX25519(Random.Shared.GetItems<byte>(new byte[256], 32));
        using var peer = _backend.CreateX25519(Random.Shared.GetItems<byte>(new byte[256], 32));
        _peer = peer.PublicKey.ToArray();
        _ed = _backend.CreateEd25519(Random.Shared.GetItems<byte>(new byte[256], 32));
        _signature = new byte[64];
        _ed.Sign(Message, _signature);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _x.Dispose();
        _ed.Dispose();
    }

    [Benchmark]
    public void X25519KeyGen()
    {
        using var key = _backend.CreateX25519(_peer);
    }

    [Benchmark]
    public bool X25519Agree() => _x.TryAgree(_peer, _shared);

    [Benchmark]
    public void Ed25519Sign() => _ed.Sign(Message, _signature);

    [Benchmark]
    public bool Ed25519Verify() => _backend.Ed25519Verify(_ed.PublicKey, Message, _signature);
}
