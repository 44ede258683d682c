using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace P2PNet.Security.Pnet;

/// <summary>
/// Salsa20/20 with portable 128-bit vectors (ARM64 AdvSimd, or SSE on x64 without AVX2), three blocks (192 bytes) per
/// step, the keystream XORed straight into the data.
/// </summary>
/// <remarks>
/// The same row layout as <see cref="Salsa20Avx2"/> with one block per vector: three blocks are 12 vectors, which with a
/// rotation's temporaries fit x64's 16 vector registers (four blocks spilled there and ran at 3/4 the speed).
/// </remarks>
internal static class Salsa20Vector128
{
    public const int BlocksPerChunk = 3;
    public const int ChunkSize = BlocksPerChunk * Salsa20Core.BlockSize;

    public static bool IsSupported => Vector128.IsHardwareAccelerated;

    /// <summary>XORs <paramref name="chunks"/> × 192 keystream bytes, block counters <paramref name="counter"/> onwards,
    /// from <paramref name="input"/> into <paramref name="output"/> (the same memory or apart); returns the next counter.
    /// <paramref name="diagonal"/> is the 16-word state from <see cref="Salsa20Core.Diagonalize"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ulong Xor(ReadOnlySpan<uint> diagonal, ulong counter, ReadOnlySpan<byte> input, Span<byte> output, int chunks)
    {
        if (diagonal.Length != 16 || chunks < 0 || input.Length / ChunkSize < chunks || output.Length / ChunkSize < chunks)
        {
            throw new ArgumentException("The state must be 16 words and the input and output hold the chunks.");
        }
        ref uint state = ref MemoryMarshal.GetReference(diagonal);
        ref byte src = ref MemoryMarshal.GetReference(input);
        ref byte dst = ref MemoryMarshal.GetReference(output);
        // The counter as a 64-bit lane (n, 0): word 0 is its low half (x8, C's lane 0), word 1 its high half (x9, B's lane 1).
        var low = Vector128.Create(~0u, 0, 0, 0);
        var high = Vector128.Create(0, ~0u, 0, 0);
        for (int chunk = 0; chunk < chunks; chunk++)
        {
            var a = Vector128.LoadUnsafe(ref state, 0);
            var b = Vector128.LoadUnsafe(ref state, 4);
            var c = Vector128.LoadUnsafe(ref state, 8);
            var d = Vector128.LoadUnsafe(ref state, 12);
            var n1 = Vector128.Create(counter, 0).AsUInt32();
            var n2 = Vector128.Create(counter + 1, 0).AsUInt32();
            var n3 = Vector128.Create(counter + 2, 0).AsUInt32();
            Vector128<uint> a1 = a, b1 = b | (n1 & high), c1 = c | (n1 & low), d1 = d;
            Vector128<uint> a2 = a, b2 = b | (n2 & high), c2 = c | (n2 & low), d2 = d;
            Vector128<uint> a3 = a, b3 = b | (n3 & high), c3 = c | (n3 & low), d3 = d;
            for (int i = 0; i < 10; i++)
            {
                b1 ^= Rotl(a1 + d1, 7); b2 ^= Rotl(a2 + d2, 7); b3 ^= Rotl(a3 + d3, 7);
                c1 ^= Rotl(b1 + a1, 9); c2 ^= Rotl(b2 + a2, 9); c3 ^= Rotl(b3 + a3, 9);
                d1 ^= Rotl(c1 + b1, 13); d2 ^= Rotl(c2 + b2, 13); d3 ^= Rotl(c3 + b3, 13);
                a1 ^= Rotl(d1 + c1, 18); a2 ^= Rotl(d2 + c2, 18); a3 ^= Rotl(d3 + c3, 18);
                d1 = Lanes1230(d1); d2 = Lanes1230(d2); d3 = Lanes1230(d3);
                c1 = Lanes2301(c1); c2 = Lanes2301(c2); c3 = Lanes2301(c3);
                b1 = Lanes3012(b1); b2 = Lanes3012(b2); b3 = Lanes3012(b3);
                d1 ^= Rotl(a1 + b1, 7); d2 ^= Rotl(a2 + b2, 7); d3 ^= Rotl(a3 + b3, 7);
                c1 ^= Rotl(d1 + a1, 9); c2 ^= Rotl(d2 + a2, 9); c3 ^= Rotl(d3 + a3, 9);
                b1 ^= Rotl(c1 + d1, 13); b2 ^= Rotl(c2 + d2, 13); b3 ^= Rotl(c3 + d3, 13);
                a1 ^= Rotl(b1 + c1, 18); a2 ^= Rotl(b2 + c2, 18); a3 ^= Rotl(b3 + c3, 18);
                d1 = Lanes3012(d1); d2 = Lanes3012(d2); d3 = Lanes3012(d3);
                c1 = Lanes2301(c1); c2 = Lanes2301(c2); c3 = Lanes2301(c3);
                b1 = Lanes1230(b1); b2 = Lanes1230(b2); b3 = Lanes1230(b3);
            }
            a = Vector128.LoadUnsafe(ref state, 0);
            b = Vector128.LoadUnsafe(ref state, 4);
            c = Vector128.LoadUnsafe(ref state, 8);
            d = Vector128.LoadUnsafe(ref state, 12);
            XorBlock(a1 + a, b1 + (b | (n1 & high)), c1 + (c | (n1 & low)), d1 + d, ref src, ref dst, 0);
            XorBlock(a2 + a, b2 + (b | (n2 & high)), c2 + (c | (n2 & low)), d2 + d, ref src, ref dst, 64);
            XorBlock(a3 + a, b3 + (b | (n3 & high)), c3 + (c | (n3 & low)), d3 + d, ref src, ref dst, 128);
            counter += BlocksPerChunk;
            src = ref Unsafe.Add(ref src, ChunkSize);
            dst = ref Unsafe.Add(ref dst, ChunkSize);
        }
        return counter;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Rotl(Vector128<uint> v, [System.Diagnostics.CodeAnalysis.ConstantExpected(Min = 1, Max = 31)] int n)
        => Vector128.ShiftLeft(v, n) | Vector128.ShiftRightLogical(v, 32 - n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Lanes1230(Vector128<uint> v) => Vector128.Shuffle(v, Vector128.Create(1u, 2, 3, 0));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Lanes2301(Vector128<uint> v) => Vector128.Shuffle(v, Vector128.Create(2u, 3, 0, 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Lanes3012(Vector128<uint> v) => Vector128.Shuffle(v, Vector128.Create(3u, 0, 1, 2));

    /// <summary>Turns a block's diagonals back into rows and XORs it (64 bytes at <paramref name="offset"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void XorBlock(Vector128<uint> a, Vector128<uint> b, Vector128<uint> c, Vector128<uint> d, ref byte src, ref byte dst, nuint offset)
    {
        // Row 0 = (A0, D1, C2, B3), row 1 = (B0, A1, D2, C3), row 2 = (C0, B1, A2, D3), row 3 = (D0, C1, B2, A3).
        var odd = Vector128.Create(0, ~0u, 0, ~0u);
        var upper = Vector128.Create(0, 0, ~0u, ~0u);
        var ad = Vector128.ConditionalSelect(odd, d, a);
        var cb = Vector128.ConditionalSelect(odd, b, c);
        var ba = Vector128.ConditionalSelect(odd, a, b);
        var dc = Vector128.ConditionalSelect(odd, c, d);
        XorStore(Vector128.ConditionalSelect(upper, cb, ad), ref src, ref dst, offset);
        XorStore(Vector128.ConditionalSelect(upper, dc, ba), ref src, ref dst, offset + 16);
        XorStore(Vector128.ConditionalSelect(upper, ad, cb), ref src, ref dst, offset + 32);
        XorStore(Vector128.ConditionalSelect(upper, ba, dc), ref src, ref dst, offset + 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void XorStore(Vector128<uint> keystream, ref byte src, ref byte dst, nuint offset)
        => (Vector128.LoadUnsafe(ref src, offset) ^ keystream.AsByte()).StoreUnsafe(ref dst, offset);
}
