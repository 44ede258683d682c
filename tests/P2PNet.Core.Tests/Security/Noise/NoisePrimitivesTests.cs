using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Core.Tests.Crypto;
using P2PNet.Security.Noise.Internal;

namespace P2PNet.Core.Tests.Security.Noise;

public class NoisePrimitivesTests
{
    [Fact]
    public void Hkdf_MatchesRfc5869TestCase3()
    {
        // RFC 5869 A.3: SHA-256, IKM = 22 × 0x0b, empty salt, empty info, L = 42. Noise's HKDF is RFC 5869 with
        // salt = ck and empty info, and an empty HMAC key is the RFC's "HashLen zeros" salt.
        byte[] ikm = Enumerable.Repeat((byte)0x0b, 22).ToArray();
        byte[] okm = Convert.FromHexString("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
        var output1 = new byte[32];
        var output2 = new byte[32];
        SymmetricState.Hkdf([], ikm, output1, output2);
        Assert.Equal(okm[..32], output1);
        Assert.Equal(okm[32..], output2[..10]);
    }

    [Property(MaxTest = 200)]
    public Property Hkdf_AgreesWithRfc5869HkdfForAnyChainingKeyAndInput()
    {
        Gen<(byte[] Ck, byte[] Ikm)> inputs =
            from ck in ArbMap.Default.GeneratorFor<byte>().ArrayOf(32)
            from ikm in ArbMap.Default.GeneratorFor<byte[]>()
            select (ck, ikm);
        return Prop.ForAll(inputs.ToArbitrary(), input =>
        {
            var outputs = new byte[96];
            SymmetricState.Hkdf(input.Ck, input.Ikm, outputs.AsSpan(0, 32), outputs.AsSpan(32, 32), outputs.AsSpan(64, 32));
            byte[] expected = HKDF.DeriveKey(HashAlgorithmName.SHA256, input.Ikm, 96, salt: input.Ck, info: []);
            return expected.AsSpan().SequenceEqual(outputs);
        });
    }

    [Fact]
    public void SymmetricState_InitialHashIsTheProtocolNamePaddedOrHashed()
    {
        // "Noise_XX_25519_ChaChaPoly_SHA256" is exactly 32 bytes: h is the name itself.
        using var xx = new SymmetricState("Noise_XX_25519_ChaChaPoly_SHA256");
        Assert.Equal("Noise_XX_25519_ChaChaPoly_SHA256"u8.ToArray(), xx.HandshakeHash.ToArray());
        using var shorter = new SymmetricState("Noise_NN_25519_AESGCM_SHA256");
        Assert.Equal([.. "Noise_NN_25519_AESGCM_SHA256"u8, 0, 0, 0, 0], shorter.HandshakeHash.ToArray());
        using var longer = new SymmetricState("Noise_XXfallback_25519_ChaChaPoly_SHA256");
        Assert.Equal(SHA256.HashData("Noise_XXfallback_25519_ChaChaPoly_SHA256"u8), longer.HandshakeHash.ToArray());
    }

    [Fact]
    public void SymmetricState_MixHashIsSha256OfHashAndData()
    {
        using var state = new SymmetricState("Noise_XX_25519_ChaChaPoly_SHA256");
        state.MixHash([]);
        Assert.Equal(SHA256.HashData("Noise_XX_25519_ChaChaPoly_SHA256"u8), state.HandshakeHash.ToArray());
    }

    [Fact]
    public void CipherState_UsesFourZeroBytesThenTheLittleEndianCounterAsNonce()
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        using var cipher = new CipherState();
        cipher.InitializeKey(key);
        using var reference = new ChaCha20Poly1305(key);
        for (ulong n = 0; n < 3; n++)
        {
            byte[] plaintext = Encoding.ASCII.GetBytes($"message {n}");
            var ciphertext = new byte[plaintext.Length];
            var tag = new byte[16];
            cipher.Encrypt(plaintext, ciphertext, tag);
            var nonce = new byte[12];
            BinaryPrimitives.WriteUInt64LittleEndian(nonce.AsSpan(4), n);
            var decrypted = new byte[plaintext.Length];
            reference.Decrypt(nonce, ciphertext, tag, decrypted);
            Assert.Equal(plaintext, decrypted);
        }
        Assert.Equal(3UL, cipher.Nonce);
    }

    [Fact]
    public void CipherState_WithTamperedCiphertext_ThrowsAndKeepsTheNonce()
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        using var sender = new CipherState();
        using var receiver = new CipherState();
        sender.InitializeKey(key);
        receiver.InitializeKey(key);
        var message = new byte[64 + 16];
        sender.EncryptWithAd([], new byte[64], message);
        message[10] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => receiver.DecryptWithAd([], message, new byte[64]));
        Assert.Equal(0UL, receiver.Nonce);
        message[10] ^= 1;
        Assert.Equal(64, receiver.DecryptWithAd([], message, new byte[64]));
        Assert.Equal(1UL, receiver.Nonce);
    }

    [Fact]
    public void CipherState_WithoutKey_PassesPlaintextThrough()
    {
        using var cipher = new CipherState();
        var destination = new byte[5];
        Assert.Equal(5, cipher.EncryptWithAd("ad"u8, "hello"u8, destination));
        Assert.Equal("hello"u8.ToArray(), destination);
    }

    [Theory]
    [MemberData(nameof(Curve25519Backends.Names), MemberType = typeof(Curve25519Backends))]
    public void Handshake_ReproducesTheCacophonyTestVector(string backend)
    {
        var b = Curve25519Backends.Get(backend);
        // Noise_XX_25519_ChaChaPoly_SHA256 from the cacophony test vectors (as shipped with snow's tests):
        // fixed keys, prologue "John Galt", payloads in every message, then three transport messages.
        byte[] prologue = Convert.FromHexString("4a6f686e2047616c74");
        using var initiatorStatic = X25519KeyPair.FromPrivateKey(Convert.FromHexString("e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1"), b);
        using var responderStatic = X25519KeyPair.FromPrivateKey(Convert.FromHexString("4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893"), b);
        var initiatorEphemeral = X25519KeyPair.FromPrivateKey(Convert.FromHexString("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"), b);
        var responderEphemeral = X25519KeyPair.FromPrivateKey(Convert.FromHexString("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"), b);
        (string Payload, string Ciphertext)[] messages =
        [
            ("4c756477696720766f6e204d69736573", "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69736573"),
            ("4d757272617920526f746862617264", "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f276e038c48378ffce2b65285e08d6b68aaa3629a5a8639392490e5b9bd5269c2f1e4f488ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f8814c7194e83f23dbd8d162c9326ad"),
            ("462e20412e20486179656b", "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a80ae475b9df0f169ae80a89be0865b57f58c9fea0d4ec82a286427402f113e4b6ae769a1d95941d49b25030"),
            ("4361726c204d656e676572", "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df"),
            ("4a65616e2d426170746973746520536179", "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5"),
            ("457567656e2042f6686d20766f6e2042617765726b", "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae3f"),
        ];

        using var initiator = new HandshakeState(true, prologue, initiatorStatic, initiatorEphemeral);
        using var responder = new HandshakeState(false, prologue, responderStatic, responderEphemeral);
        for (int i = 0; i < 3; i++)
        {
            var (writer, reader) = i % 2 == 0 ? (initiator, responder) : (responder, initiator);
            byte[] payload = Convert.FromHexString(messages[i].Payload);
            var message = new byte[writer.GetMessageLength(payload.Length)];
            Assert.Equal(message.Length, writer.WriteMessage(payload, message));
            Assert.Equal(messages[i].Ciphertext, Convert.ToHexStringLower(message));
            Assert.Equal(payload, reader.ReadMessage(message));
        }
        Assert.True(initiator.IsComplete && responder.IsComplete);
        Assert.Equal("c8e5f64e846193be2a834104c2a009868d6c9f3bd3c186299888b488b2f1f58e", Convert.ToHexStringLower(initiator.HandshakeHash));
        Assert.Equal(initiator.HandshakeHash.ToArray(), responder.HandshakeHash.ToArray());
        Assert.Equal(responderStatic.PublicKey.ToArray(), initiator.RemoteStaticKey.ToArray());
        Assert.Equal(initiatorStatic.PublicKey.ToArray(), responder.RemoteStaticKey.ToArray());

        var (initiatorSend, initiatorReceive) = initiator.Split();
        var (responderSend, responderReceive) = responder.Split();
        using (initiatorSend)
        using (initiatorReceive)
        using (responderSend)
        using (responderReceive)
        {
            for (int i = 3; i < messages.Length; i++)
            {
                // Transport messages keep alternating: responder, initiator, responder.
                var (send, receive) = i % 2 == 0 ? (initiatorSend, responderReceive) : (responderSend, initiatorReceive);
                byte[] payload = Convert.FromHexString(messages[i].Payload);
                var message = new byte[payload.Length + 16];
                send.Encrypt(payload, message.AsSpan(0, payload.Length), message.AsSpan(payload.Length));
                Assert.Equal(messages[i].Ciphertext, Convert.ToHexStringLower(message));
                var decrypted = new byte[payload.Length];
                receive.Decrypt(message.AsSpan(0, payload.Length), message.AsSpan(payload.Length), decrypted);
                Assert.Equal(payload, decrypted);
            }
        }
    }

    [Fact]
    public void Handshake_WithTruncatedMessage_IsRefusedWithNoiseHandshakeException()
    {
        using var initiatorStatic = X25519KeyPair.Generate();
        using var responderStatic = X25519KeyPair.Generate();
        using var initiator = new HandshakeState(true, [], initiatorStatic);
        using var responder = new HandshakeState(false, [], responderStatic);
        var message1 = new byte[initiator.GetMessageLength(0)];
        initiator.WriteMessage([], message1);
        responder.ReadMessage(message1);
        var message2 = new byte[responder.GetMessageLength(10)];
        responder.WriteMessage(new byte[10], message2);
        var error = Assert.Throws<P2PNet.Security.Noise.NoiseHandshakeException>(() => initiator.ReadMessage(message2.AsSpan(0, 90)));
        Assert.Contains("shorter", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Curve25519Backends.Names), MemberType = typeof(Curve25519Backends))]
    public void Handshake_WithLowOrderEphemeralKey_IsRefused(string backend)
    {
        using var responderStatic = X25519KeyPair.Generate(Curve25519Backends.Get(backend));
        using var responder = new HandshakeState(false, [], responderStatic);
        responder.ReadMessage(new byte[32]); // the all-zero point
        Assert.Throws<P2PNet.Security.Noise.NoiseHandshakeException>(() => responder.WriteMessage([], new byte[responder.GetMessageLength(0)]));
    }

    [Fact]
    public void Frame_RoundTripsAndParsesTheSameWhenSplitAtEveryOffset()
    {
        int[] lengths = [0, 1, 16, 300, 65535];
        var all = new ArrayBufferWriter<byte>();
        foreach (int length in lengths)
        {
            Span<byte> span = all.GetSpan(2 + length);
            NoiseFrame.WriteHeader(span, length);
            span.Slice(2, length).Fill((byte)length);
            all.Advance(2 + length);
        }
        byte[] bytes = all.WrittenSpan.ToArray();
        for (int offset = 0; offset <= bytes.Length; offset += offset < 400 ? 1 : 997)
        {
            ReadOnlySequence<byte> buffer = TestPipes.Segmented(bytes, offset, offset + 1);
            foreach (int length in lengths)
            {
                Assert.True(NoiseFrame.TryParse(ref buffer, out ReadOnlySequence<byte> frame));
                Assert.Equal(length, frame.Length);
                Assert.True(frame.ToArray().AsSpan().IndexOfAnyExcept((byte)length) < 0);
            }
            Assert.True(buffer.IsEmpty);
        }
    }

    // Sizes grow to just past a whole maximum frame, so complete frames of every length 0–65535 are generated,
    // not only the short ones FsCheck's default sizes (up to 100 bytes) can hold.
    [Property(MaxTest = 1000, EndSize = NoiseFrame.HeaderLength + NoiseFrame.MaxMessageLength + 1)]
    public Property Frame_ArbitraryBytes_ParseToAFrameOrWaitForMore()
    {
        return Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), bytes =>
        {
            var buffer = new ReadOnlySequence<byte>(bytes);
            if (!NoiseFrame.TryParse(ref buffer, out ReadOnlySequence<byte> frame))
            {
                return buffer.Length == bytes.Length && (bytes.Length < 2 || bytes.Length < 2 + BinaryPrimitives.ReadUInt16BigEndian(bytes));
            }
            return frame.Length == BinaryPrimitives.ReadUInt16BigEndian(bytes) && buffer.Length == bytes.Length - 2 - frame.Length;
        });
    }
}
