using System.Buffers;
using BenchmarkDotNet.Attributes;
using P2PNet.Security.Noise.Internal;

namespace P2PNet.Benchmarks;

/// <summary>One Noise transport message (ChaCha20-Poly1305 + 2-byte length), as NoiseSecureChannel's pumps do per frame.</summary>
[MemoryDiagnoser]
public class NoiseFrameBenchmarks
{
    private readonly CipherState _encrypt = new();
    private readonly CipherState _decrypt = new();
    private byte[] _plain = [];
    private byte[] _frame = [];
    private byte[] _scratch = [];

    [Params(1024, 65535 - CipherState.TagLength)]
    public int PayloadSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        byte[] key = new byte[CipherState.KeyLength];
        Random.Shared.NextBytes(key);
        _encrypt.InitializeKey(key);
        _decrypt.InitializeKey(key);
        _plain = new byte[PayloadSize];
        Random.Shared.NextBytes(_plain);
        _frame = new byte[2 + PayloadSize + CipherState.TagLength];
        _scratch = new byte[PayloadSize];
    }

    [Benchmark]
    public int Encrypt()
    {
        NoiseFrame.WriteHeader(_frame, PayloadSize + CipherState.TagLength);
        return _encrypt.EncryptWithAd(default, _plain, _frame.AsSpan(2));
    }

    /// <summary>Encrypt then parse and decrypt the frame (the decrypt nonce must follow the encrypt nonce).</summary>
    [Benchmark]
    public int EncryptThenDecrypt()
    {
        NoiseFrame.WriteHeader(_frame, PayloadSize + CipherState.TagLength);
        _encrypt.EncryptWithAd(default, _plain, _frame.AsSpan(2));
        var sequence = new ReadOnlySequence<byte>(_frame);
        if (!NoiseFrame.TryParse(ref sequence, out var message))
        {
            throw new InvalidOperationException("frame did not parse");
        }
        return _decrypt.DecryptWithAd(default, message.FirstSpan, _scratch);
    }
}
