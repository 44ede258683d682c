using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace P2PNet.Security.Pnet;

/// <summary>
/// The Salsa20/20 block function (Bernstein, "Salsa20 specification") and HSalsa20 ("Extending the Salsa20 nonce"),
/// with an AVX2 path that computes eight blocks at once — the private-network data path runs through here.
/// </summary>
internal static class Salsa20Core
{
    public const int BlockSize = 64;
    public const int WideBlocks = 8;

    private const uint C0 = 0x61707865, C1 = 0x3320646e, C2 = 0x79622d32, C3 = 0x6b206574;

    /// <summary>Fills <paramref name="state"/> with the Salsa20 input for a 32-byte key and 8-byte nonce (counter 0).</summary>
    public static void Initialize(Span<uint> state, ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce8)
    {
        state[0] = C0;
        for (int i = 0; i < 4; i++)
        {
            state[1 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(4 * i)..]);
            state[11 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(16 + 4 * i)..]);
        }
        state[5] = C1;
        state[6] = BinaryPrimitives.ReadUInt32LittleEndian(nonce8);
        state[7] = BinaryPrimitives.ReadUInt32LittleEndian(nonce8[4..]);
        state[8] = 0;
        state[9] = 0;
        state[10] = C2;
        state[15] = C3;
    }

    /// <summary>HSalsa20: derives the XSalsa20 subkey from the key and the first 16 nonce bytes.</summary>
    public static void HSalsa20(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce16, Span<byte> subkey)
    {
        Span<uint> x = stackalloc uint[16];
        x[0] = C0;
        x[5] = C1;
        x[10] = C2;
        x[15] = C3;
        for (int i = 0; i < 4; i++)
        {
            x[1 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(4 * i)..]);
            x[11 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(16 + 4 * i)..]);
            x[6 + i] = BinaryPrimitives.ReadUInt32LittleEndian(nonce16[(4 * i)..]);
        }
        Rounds(x);
        ReadOnlySpan<int> picks = [0, 5, 10, 15, 6, 7, 8, 9];
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(subkey[(4 * i)..], x[picks[i]]);
        }
        x.Clear();
    }

    /// <summary>One keystream block for the counter in <paramref name="state"/> (words 8, 9); the counter is not advanced.</summary>
    public static void Block(ReadOnlySpan<uint> state, Span<byte> output)
    {
        Span<uint> x = stackalloc uint[16];
        state.CopyTo(x);
        Rounds(x);
        for (int i = 0; i < 16; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(output[(4 * i)..], x[i] + state[i]);
        }
        x.Clear();
    }

    private static void Rounds(Span<uint> x)
    {
        uint x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5], x6 = x[6], x7 = x[7];
        uint x8 = x[8], x9 = x[9], x10 = x[10], x11 = x[11], x12 = x[12], x13 = x[13], x14 = x[14], x15 = x[15];
        for (int i = 0; i < 10; i++)
        {
            x4 ^= BitOperations.RotateLeft(x0 + x12, 7); x8 ^= BitOperations.RotateLeft(x4 + x0, 9);
            x12 ^= BitOperations.RotateLeft(x8 + x4, 13); x0 ^= BitOperations.RotateLeft(x12 + x8, 18);
            x9 ^= BitOperations.RotateLeft(x5 + x1, 7); x13 ^= BitOperations.RotateLeft(x9 + x5, 9);
            x1 ^= BitOperations.RotateLeft(x13 + x9, 13); x5 ^= BitOperations.RotateLeft(x1 + x13, 18);
            x14 ^= BitOperations.RotateLeft(x10 + x6, 7); x2 ^= BitOperations.RotateLeft(x14 + x10, 9);
            x6 ^= BitOperations.RotateLeft(x2 + x14, 13); x10 ^= BitOperations.RotateLeft(x6 + x2, 18);
            x3 ^= BitOperations.RotateLeft(x15 + x11, 7); x7 ^= BitOperations.RotateLeft(x3 + x15, 9);
            x11 ^= BitOperations.RotateLeft(x7 + x3, 13); x15 ^= BitOperations.RotateLeft(x11 + x7, 18);

            x1 ^= BitOperations.RotateLeft(x0 + x3, 7); x2 ^= BitOperations.RotateLeft(x1 + x0, 9);
            x3 ^= BitOperations.RotateLeft(x2 + x1, 13); x0 ^= BitOperations.RotateLeft(x3 + x2, 18);
            x6 ^= BitOperations.RotateLeft(x5 + x4, 7); x7 ^= BitOperations.RotateLeft(x6 + x5, 9);
            x4 ^= BitOperations.RotateLeft(x7 + x6, 13); x5 ^= BitOperations.RotateLeft(x4 + x7, 18);
            x11 ^= BitOperations.RotateLeft(x10 + x9, 7); x8 ^= BitOperations.RotateLeft(x11 + x10, 9);
            x9 ^= BitOperations.RotateLeft(x8 + x11, 13); x10 ^= BitOperations.RotateLeft(x9 + x8, 18);
            x12 ^= BitOperations.RotateLeft(x15 + x14, 7); x13 ^= BitOperations.RotateLeft(x12 + x15, 9);
            x14 ^= BitOperations.RotateLeft(x13 + x12, 13); x15 ^= BitOperations.RotateLeft(x14 + x13, 18);
        }
        x[0] = x0; x[1] = x1; x[2] = x2; x[3] = x3; x[4] = x4; x[5] = x5; x[6] = x6; x[7] = x7;
        x[8] = x8; x[9] = x9; x[10] = x10; x[11] = x11; x[12] = x12; x[13] = x13; x[14] = x14; x[15] = x15;
    }

    public static bool IsWideSupported => Avx2.IsSupported;

    /// <summary>XORs eight consecutive keystream blocks (counters c … c+7 from <paramref name="state"/>) into 512 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Xor8Blocks(ReadOnlySpan<uint> state, ReadOnlySpan<byte> input, Span<byte> output)
    {
        ulong counter = state[8] | (ulong)state[9] << 32;
        var lanes = Vector256.Create(0UL, 1, 2, 3);
        var lo = Vector256.Create(counter) + lanes;
        var hi = Vector256.Create(counter) + lanes + Vector256.Create(4UL);
        // Lane k holds block counter+k: split each 64-bit counter into its 32-bit low and high words.
        var c8 = Vector256.Create((uint)lo[0], (uint)lo[1], (uint)lo[2], (uint)lo[3], (uint)hi[0], (uint)hi[1], (uint)hi[2], (uint)hi[3]);
        var c9 = Vector256.Create((uint)(lo[0] >> 32), (uint)(lo[1] >> 32), (uint)(lo[2] >> 32), (uint)(lo[3] >> 32),
            (uint)(hi[0] >> 32), (uint)(hi[1] >> 32), (uint)(hi[2] >> 32), (uint)(hi[3] >> 32));

        Vector256<uint> s0 = Vector256.Create(state[0]), s1 = Vector256.Create(state[1]), s2 = Vector256.Create(state[2]), s3 = Vector256.Create(state[3]);
        Vector256<uint> s4 = Vector256.Create(state[4]), s5 = Vector256.Create(state[5]), s6 = Vector256.Create(state[6]), s7 = Vector256.Create(state[7]);
        Vector256<uint> s10 = Vector256.Create(state[10]), s11 = Vector256.Create(state[11]);
        Vector256<uint> s12 = Vector256.Create(state[12]), s13 = Vector256.Create(state[13]), s14 = Vector256.Create(state[14]), s15 = Vector256.Create(state[15]);

        Vector256<uint> x0 = s0, x1 = s1, x2 = s2, x3 = s3, x4 = s4, x5 = s5, x6 = s6, x7 = s7;
        Vector256<uint> x8 = c8, x9 = c9, x10 = s10, x11 = s11, x12 = s12, x13 = s13, x14 = s14, x15 = s15;
        for (int i = 0; i < 10; i++)
        {
            x4 ^= Rotl7(x0 + x12); x8 ^= Rotl9(x4 + x0); x12 ^= Rotl13(x8 + x4); x0 ^= Rotl18(x12 + x8);
            x9 ^= Rotl7(x5 + x1); x13 ^= Rotl9(x9 + x5); x1 ^= Rotl13(x13 + x9); x5 ^= Rotl18(x1 + x13);
            x14 ^= Rotl7(x10 + x6); x2 ^= Rotl9(x14 + x10); x6 ^= Rotl13(x2 + x14); x10 ^= Rotl18(x6 + x2);
            x3 ^= Rotl7(x15 + x11); x7 ^= Rotl9(x3 + x15); x11 ^= Rotl13(x7 + x3); x15 ^= Rotl18(x11 + x7);

            x1 ^= Rotl7(x0 + x3); x2 ^= Rotl9(x1 + x0); x3 ^= Rotl13(x2 + x1); x0 ^= Rotl18(x3 + x2);
            x6 ^= Rotl7(x5 + x4); x7 ^= Rotl9(x6 + x5); x4 ^= Rotl13(x7 + x6); x5 ^= Rotl18(x4 + x7);
            x11 ^= Rotl7(x10 + x9); x8 ^= Rotl9(x11 + x10); x9 ^= Rotl13(x8 + x11); x10 ^= Rotl18(x9 + x8);
            x12 ^= Rotl7(x15 + x14); x13 ^= Rotl9(x12 + x15); x14 ^= Rotl13(x13 + x12); x15 ^= Rotl18(x14 + x13);
        }
        x0 += s0; x1 += s1; x2 += s2; x3 += s3; x4 += s4; x5 += s5; x6 += s6; x7 += s7;
        x8 += c8; x9 += c9; x10 += s10; x11 += s11; x12 += s12; x13 += s13; x14 += s14; x15 += s15;

        // Vector i holds word i of the eight blocks; transpose 8x8 twice so each vector holds 32 bytes of one block.
        Transpose(ref x0, ref x1, ref x2, ref x3, ref x4, ref x5, ref x6, ref x7);
        Transpose(ref x8, ref x9, ref x10, ref x11, ref x12, ref x13, ref x14, ref x15);
        XorBlock(input, output, 0, x0, x8);
        XorBlock(input, output, 1, x1, x9);
        XorBlock(input, output, 2, x2, x10);
        XorBlock(input, output, 3, x3, x11);
        XorBlock(input, output, 4, x4, x12);
        XorBlock(input, output, 5, x5, x13);
        XorBlock(input, output, 6, x6, x14);
        XorBlock(input, output, 7, x7, x15);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Rotl7(Vector256<uint> v) => Avx2.Or(Avx2.ShiftLeftLogical(v, 7), Avx2.ShiftRightLogical(v, 25));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Rotl9(Vector256<uint> v) => Avx2.Or(Avx2.ShiftLeftLogical(v, 9), Avx2.ShiftRightLogical(v, 23));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Rotl13(Vector256<uint> v) => Avx2.Or(Avx2.ShiftLeftLogical(v, 13), Avx2.ShiftRightLogical(v, 19));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Rotl18(Vector256<uint> v) => Avx2.Or(Avx2.ShiftLeftLogical(v, 18), Avx2.ShiftRightLogical(v, 14));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void XorBlock(ReadOnlySpan<byte> input, Span<byte> output, int block, Vector256<uint> first, Vector256<uint> second)
    {
        int offset = block * BlockSize;
        var a = Vector256.Create<byte>(input.Slice(offset, 32)) ^ first.AsByte();
        var b = Vector256.Create<byte>(input.Slice(offset + 32, 32)) ^ second.AsByte();
        a.CopyTo(output.Slice(offset, 32));
        b.CopyTo(output.Slice(offset + 32, 32));
    }

    /// <summary>Transposes an 8x8 matrix of 32-bit words held as eight row vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose(ref Vector256<uint> r0, ref Vector256<uint> r1, ref Vector256<uint> r2, ref Vector256<uint> r3,
        ref Vector256<uint> r4, ref Vector256<uint> r5, ref Vector256<uint> r6, ref Vector256<uint> r7)
    {
        var t0 = Avx2.UnpackLow(r0, r1);
        var t1 = Avx2.UnpackHigh(r0, r1);
        var t2 = Avx2.UnpackLow(r2, r3);
        var t3 = Avx2.UnpackHigh(r2, r3);
        var t4 = Avx2.UnpackLow(r4, r5);
        var t5 = Avx2.UnpackHigh(r4, r5);
        var t6 = Avx2.UnpackLow(r6, r7);
        var t7 = Avx2.UnpackHigh(r6, r7);

        var u0 = Avx2.UnpackLow(t0.AsUInt64(), t2.AsUInt64()).AsUInt32();
        var u1 = Avx2.UnpackHigh(t0.AsUInt64(), t2.AsUInt64()).AsUInt32();
        var u2 = Avx2.UnpackLow(t1.AsUInt64(), t3.AsUInt64()).AsUInt32();
        var u3 = Avx2.UnpackHigh(t1.AsUInt64(), t3.AsUInt64()).AsUInt32();
        var u4 = Avx2.UnpackLow(t4.AsUInt64(), t6.AsUInt64()).AsUInt32();
        var u5 = Avx2.UnpackHigh(t4.AsUInt64(), t6.AsUInt64()).AsUInt32();
        var u6 = Avx2.UnpackLow(t5.AsUInt64(), t7.AsUInt64()).AsUInt32();
        var u7 = Avx2.UnpackHigh(t5.AsUInt64(), t7.AsUInt64()).AsUInt32();

        r0 = Avx2.Permute2x128(u0, u4, 0x20);
        r1 = Avx2.Permute2x128(u1, u5, 0x20);
        r2 = Avx2.Permute2x128(u2, u6, 0x20);
        r3 = Avx2.Permute2x128(u3, u7, 0x20);
        r4 = Avx2.Permute2x128(u0, u4, 0x31);
        r5 = Avx2.Permute2x128(u1, u5, 0x31);
        r6 = Avx2.Permute2x128(u2, u6, 0x31);
        r7 = Avx2.Permute2x128(u3, u7, 0x31);
    }
}
