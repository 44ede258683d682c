using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using NSec.Cryptography;

namespace P2PNet.Benchmarks;

/// <summary>
/// ChaCha20-Poly1305 seal of one Noise-sized frame on the candidates for the transport AEAD: the BCL's
/// (<see cref="System.Security.Cryptography.ChaCha20Poly1305"/>, what Noise uses) and NSec's (libsodium).
/// docs/dependencies.md keeps the run that chose.
/// </summary>
[Config(typeof(XSalsa20Benchmarks.Throughput))]
[MemoryDiagnoser]
public class AeadBenchmarks
{
    private System.Security.Cryptography.ChaCha20Poly1305 _bcl = null!;
    private Key _nsecKey = null!;
    private byte[] _plain = [];
    private byte[] _cipher = [];
    private readonly byte[] _tag = new byte[16];
    private readonly byte[] _nonce = new byte[12];

    [Params(1024, 65519)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        _bcl = new System.Security.Cryptography.ChaCha20Poly1305(key);
        _nsecKey = Key.Import(AeadAlgorithm.ChaCha20Poly1305, key, KeyBlobFormat.RawSymmetricKey);
        _plain = RandomNumberGenerator.GetBytes(Size);
        _cipher = new byte[Size + 16];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bcl.Dispose();
        _nsecKey.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Bcl() => _bcl.Encrypt(_nonce, _plain, _cipher.AsSpan(0, Size), _tag);

    [Benchmark]
    public void NSec() => AeadAlgorithm.ChaCha20Poly1305.Encrypt(_nsecKey, _nonce, default, _plain, _cipher);
}
