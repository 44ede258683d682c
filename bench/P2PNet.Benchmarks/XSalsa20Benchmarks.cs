using BenchmarkDotNet.Attributes;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using P2PNet.Security.Pnet;

namespace P2PNet.Benchmarks;

/// <summary>
/// XSalsa20 keystream XOR over 64 KiB (one PSK pump chunk): ours (AVX2 8-block core when available) against
/// BouncyCastle's <see cref="XSalsa20Engine"/>. Throughput = 64 KiB / mean.
/// </summary>
[MemoryDiagnoser]
public class XSalsa20Benchmarks
{
    private const int Size = 64 * 1024;
    private readonly byte[] _input = new byte[Size];
    private readonly byte[] _output = new byte[Size];
    private XSalsa20 _ours = null!;
    private XSalsa20Engine _bouncy = null!;

    [GlobalSetup]
    public void Setup()
    {
        byte[] key = new byte[32];
        byte[] nonce = new byte[24];
        Random.Shared.NextBytes(key);
        Random.Shared.NextBytes(nonce);
        Random.Shared.NextBytes(_input);
        _ours = XSalsa20.Create(key, nonce);
        _bouncy = new XSalsa20Engine();
        _bouncy.Init(true, new ParametersWithIV(new KeyParameter(key), nonce));
    }

    [GlobalCleanup]
    public void Cleanup() => _ours.Dispose();

    [Benchmark(Baseline = true)]
    public void P2PNet() => _ours.Transform(_input, _output);

    [Benchmark]
    public void BouncyCastle() => _bouncy.ProcessBytes(_input, 0, Size, _output, 0);
}
