using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace P2PNet.Bench;

/// <summary>
/// `aead [--bytes N]`: ChaCha20-Poly1305 alone, as the Noise transport uses it (one <see cref="ChaCha20Poly1305"/> per
/// key, 65,519-byte plaintexts — Noise's largest — and a counter nonce), each frame encrypted then decrypted on one
/// thread. Prints one JSON line: CPU seconds per GB of encrypt + decrypt, the floor the host data path's CPU per GB
/// (one side encrypting, the other decrypting every byte) is compared with in docs/performance.md.
/// </summary>
internal static class AeadRole
{
    private const int Frame = 65_519;

    public static int Run(Args args)
    {
        long bytes = args.GetLong("bytes", 1L << 30);
        using var aead = new ChaCha20Poly1305(RandomNumberGenerator.GetBytes(32));
        byte[] plain = RandomNumberGenerator.GetBytes(Frame);
        byte[] cipher = new byte[Frame];
        byte[] back = new byte[Frame];
        byte[] tag = new byte[16];
        byte[] nonce = new byte[12];
        long frames = Math.Max(1, bytes / Frame);
        RoundTrips(aead, plain, cipher, back, tag, nonce, Math.Min(frames, 2_000)); // tiered JIT, as in a running node
        var process = Process.GetCurrentProcess();
        TimeSpan cpu0 = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        RoundTrips(aead, plain, cipher, back, tag, nonce, frames);
        clock.Stop();
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        double gb = frames * (double)Frame / 1e9;
        if (!plain.AsSpan().SequenceEqual(back))
        {
            Console.Error.WriteLine("aead: a round trip did not give the plaintext back");
            return 1;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{{\"bytes\":{frames * Frame},\"cpu_s_per_gb\":{cpu / gb:F3},\"seconds\":{clock.Elapsed.TotalSeconds:F3}}}"));
        return 0;
    }

    private static void RoundTrips(ChaCha20Poly1305 aead, byte[] plain, byte[] cipher, byte[] back, byte[] tag, byte[] nonce, long frames)
    {
        for (long i = 0; i < frames; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(nonce.AsSpan(4), (ulong)i);
            aead.Encrypt(nonce, plain, cipher, tag);
            aead.Decrypt(nonce, cipher, tag, back);
        }
    }
}
