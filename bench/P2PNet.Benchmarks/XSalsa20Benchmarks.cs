using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using P2PNet.Security.Pnet;

namespace P2PNet.Benchmarks;

/// <summary>
/// XSalsa20 keystream XOR as <c>PnetConnection</c>'s pumps call it, over one pipe segment (4 KiB) and one pump chunk
/// (64 KiB): ours (AVX2 6-block kernel when available) src → dst, in place, and in odd-sized calls at odd offsets
/// (TCP-segment-like sizes, so each call starts and ends mid-block), against BouncyCastle's <see cref="XSalsa20Engine"/>.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Throughput))]
public class XSalsa20Benchmarks
{
    /// <summary>Call sizes for the odd-split case, repeated until the total is <see cref="Size"/>.</summary>
    private static readonly int[] OddSizes = [1448, 17, 4093, 333, 2896, 7, 9000, 1, 20000, 2047];

    private byte[] _input = [];
    private byte[] _output = [];
    private int[] _oddSplits = [];
    private XSalsa20 _ours = null!;
    private XSalsa20Engine _bouncy = null!;

    [Params(4 * 1024, 64 * 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        byte[] key = new byte[32];
        byte[] nonce = new byte[24];
        Random.Shared.NextBytes(key);
        Random.Shared.NextBytes(nonce);
        _input = new byte[Size + 8];
        _output = new byte[Size + 8];
        Random.Shared.NextBytes(_input);
        _ours = XSalsa20.Create(key, nonce);
        _bouncy = new XSalsa20Engine();
        _bouncy.Init(true, new ParametersWithIV(new KeyParameter(key), nonce));
        var splits = new List<int>();
        for (int total = 0, i = 0; total < Size; i++)
        {
            int n = Math.Min(OddSizes[i % OddSizes.Length], Size - total);
            splits.Add(n);
            total += n;
        }
        _oddSplits = [.. splits];
    }

    [GlobalCleanup]
    public void Cleanup() => _ours.Dispose();

    [Benchmark(Baseline = true)]
    public void P2PNet() => _ours.Transform(_input.AsSpan(0, Size), _output);

    [Benchmark]
    public void P2PNetInPlace() => _ours.Transform(_input.AsSpan(0, Size), _input.AsSpan(0, Size));

    /// <summary>Odd-sized calls, input at offset 3 and output at offset 5 (neither 32-byte aligned).</summary>
    [Benchmark]
    public void P2PNetOddSplits()
    {
        int offset = 0;
        foreach (int n in _oddSplits)
        {
            _ours.Transform(_input.AsSpan(3 + offset, n), _output.AsSpan(5 + offset, n));
            offset += n;
        }
    }

    [Benchmark]
    public void BouncyCastle() => _bouncy.ProcessBytes(_input, 0, Size, _output, 0);

    internal sealed class Throughput : ManualConfig
    {
        public Throughput() => AddColumn(new ThroughputColumn());
    }
}
