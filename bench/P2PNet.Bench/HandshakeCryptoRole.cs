using System.Diagnostics;
using P2PNet.Crypto;
using P2PNet.Crypto.Internal;
using P2PNet.Security.Noise;
using P2PNet.Security.Noise.Internal;

namespace P2PNet.Bench;

/// <summary>
/// `handshake-crypto [--count N]`: the floor under the handshakes row — what one Noise XX handshake costs in
/// cryptography alone, both sides on one thread, no sockets, no async: each side's X25519 key generation and three
/// agreements, the remote's Ed25519 verification, the hashing, HKDF and ChaCha20-Poly1305 of the handshake messages.
/// Prints one JSON line: microseconds of CPU per handshake (both sides), then the curve operations alone per side,
/// measured on the default backend (docs/performance.md, "Handshakes").
/// </summary>
internal static class HandshakeCryptoRole
{
    public static int Run(Args args)
    {
        int count = (int)args.GetLong("count", 20_000);
        var backend = Curve25519Backend.Default;
        var initiatorId = PrivateKey.GenerateEd25519();
        var responderId = PrivateKey.GenerateEd25519();
        using var initiator = new NoiseIdentity(initiatorId);
        using var responder = new NoiseIdentity(responderId);
        byte[] initiatorPayload = new byte[initiator.EncodedPublicKey.Length + initiator.StaticKeySignature.Length + 24];
        byte[] responderPayload = new byte[initiatorPayload.Length];
        byte[] m1 = new byte[1024], m2 = new byte[1024], m3 = new byte[1024];

        void OneHandshake()
        {
            using var i = new HandshakeState(initiator: true, [], initiator.StaticKey);
            using var r = new HandshakeState(initiator: false, [], responder.StaticKey);
            int n1 = i.WriteMessage([], m1);
            r.ReadMessage(m1.AsSpan(0, n1));
            int n2 = r.WriteMessage(responderPayload, m2);
            i.ReadMessage(m2.AsSpan(0, n2));
            Check(responderId.PublicKey.Verify(NoiseHandshake.SignedData(i.RemoteStaticKey), responder.StaticKeySignature.Span));
            int n3 = i.WriteMessage(initiatorPayload, m3);
            r.ReadMessage(m3.AsSpan(0, n3));
            Check(initiatorId.PublicKey.Verify(NoiseHandshake.SignedData(r.RemoteStaticKey), initiator.StaticKeySignature.Span));
            var (a, b) = i.Split();
            var (c, d) = r.Split();
            a.Dispose(); b.Dispose(); c.Dispose(); d.Dispose();
        }

        double full = PerOperation(count, OneHandshake);

        // The curve operations of one side, alone: one key generation, three agreements, one verification.
        using var remote = X25519KeyPair.Generate(backend);
        byte[] shared = new byte[32];
        byte[] signed = NoiseHandshake.SignedData(initiator.StaticKey.PublicKey);
        double keygen = PerOperation(count, () => X25519KeyPair.Generate(backend).Dispose());
        double agree = PerOperation(count, () => remote.Agree(initiator.StaticKey.PublicKey, shared));
        double verify = PerOperation(count, () => Check(initiatorId.PublicKey.Verify(signed, initiator.StaticKeySignature.Span)));
        Console.WriteLine(Json.Line(("handshake_both_sides_us", full), ("x25519_keygen_us", keygen), ("x25519_agree_us", agree),
            ("ed25519_verify_us", verify), ("curve_per_side_us", keygen + 3 * agree + verify)));
        Console.Error.WriteLine($"backend {backend.Name}");
        return 0;
    }

    private static double PerOperation(int count, Action action)
    {
        for (int i = 0; i < Math.Min(count, 2_000); i++)
        {
            action(); // tiered JIT, as in a running node
        }
        var process = Process.GetCurrentProcess();
        process.Refresh();
        TimeSpan cpu0 = process.TotalProcessorTime;
        for (int i = 0; i < count; i++)
        {
            action();
        }
        process.Refresh();
        return (process.TotalProcessorTime - cpu0).TotalMicroseconds / count;
    }

    private static void Check(bool valid)
    {
        if (!valid)
        {
            throw new InvalidOperationException("A signature that must verify did not.");
        }
    }
}
