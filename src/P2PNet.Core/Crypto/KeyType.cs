namespace P2PNet.Crypto;

/// <summary>The key algorithms libp2p identities use, with their wire values.</summary>
public enum KeyType
{
    /// <summary>RSA; keys are PKIX (public) or PKCS#1 (private) DER, signatures PKCS#1 v1.5 over SHA-256.</summary>
    Rsa = 0,

    /// <summary>Ed25519; the default for P2PNet identities.</summary>
    Ed25519 = 1,

    /// <summary>secp256k1 ECDSA; keys are compressed points, signatures DER over SHA-256.</summary>
    Secp256k1 = 2,

    /// <summary>ECDSA (P-256 and friends); keys are PKIX / SEC1 DER, signatures DER over SHA-256.</summary>
    Ecdsa = 3,
}
