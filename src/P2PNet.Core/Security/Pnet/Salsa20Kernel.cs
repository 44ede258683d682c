namespace P2PNet.Security.Pnet;

/// <summary>Which Salsa20 implementation an <see cref="XSalsa20"/> runs; all produce the same keystream.</summary>
internal enum Salsa20Kernel
{
    /// <summary>One block at a time in 32-bit integers (<see cref="Salsa20Core"/>): any machine.</summary>
    Scalar,

    /// <summary>Three blocks at a time in 128-bit vectors (<see cref="Salsa20Vector128"/>): ARM64, x64 without AVX2.</summary>
    Vector128,

    /// <summary>Six blocks at a time in 256-bit vectors (<see cref="Salsa20Avx2"/>): x64 with AVX2.</summary>
    Avx2,
}
